package release

import "time"

// OutcomeStatus is what became of one decision on one target.
type OutcomeStatus string

const (
	// OutcomeDone: the target carried the action out.
	OutcomeDone OutcomeStatus = "done"
	// OutcomeDryRun: recorded what would have been sent; nothing was.
	OutcomeDryRun OutcomeStatus = "dry_run"
	// OutcomeFailed: the target refused, permanently, or retries ran out.
	OutcomeFailed OutcomeStatus = "failed"
	// OutcomeSkipped: no target matched, or the policy held it back (the
	// brake, a duplicate of an action already taken for the release).
	OutcomeSkipped OutcomeStatus = "skipped"
	// OutcomePending: waiting for a person to approve.
	OutcomePending OutcomeStatus = "pending_approval"
	// OutcomeDismissed: a person dismissed it.
	OutcomeDismissed OutcomeStatus = "dismissed"
)

// RecordedRequest is a request a target sent (or, in dry run, would have
// sent). Credentials are redacted.
type RecordedRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	// Status is the answer's status code (0 in dry run or when unsent).
	Status int `json:"status,omitempty"`
	// Response is the start of the answer's body.
	Response string `json:"response,omitempty"`
}

// ActionOutcome is the audit record of one decision on one target: written
// to the store and emitted as a release.action log record.
type ActionOutcome struct {
	ID         string            `json:"id"`
	DecisionID string            `json:"decision_id"`
	ReleaseID  string            `json:"release_id"`
	Target     string            `json:"target"`
	TargetType string            `json:"target_type"`
	Action     Action            `json:"action"`
	Status     OutcomeStatus     `json:"status"`
	Detail     string            `json:"detail"`
	Requests   []RecordedRequest `json:"requests,omitempty"`
	Attempts   int               `json:"attempts,omitempty"`
	At         time.Time         `json:"at"`
	// Actor is who approved or dismissed, for those outcomes.
	Actor string `json:"actor,omitempty"`
}

// EventNameAction is the event name of release.action log records.
const EventNameAction = "release.action"

// Attribute names of release.action records.
const (
	AttrActionTarget = "release.action.target"
	AttrActionStatus = "release.action.status"
	AttrActionName   = "release.action.name"
)

// Review is a person's answer to a decision waiting for approval.
type Review struct {
	DecisionID string `json:"decision_id"`
	Approved   bool   `json:"approved"`
	// Actor is the reviewer: the identity the server's authenticator
	// established, or the name the request gave (ReviewerSource says
	// which).
	Actor string `json:"actor,omitempty"`
	// ReviewerSource is ReviewerAuthenticated or ReviewerRequest; empty on
	// reviews recorded before it was kept.
	ReviewerSource string `json:"reviewer_source,omitempty"`
	// Authenticator is the id of the server auth extension that
	// authenticated the request (for example "oidc" or "basicauth/ops"),
	// empty when none is configured.
	Authenticator string `json:"authenticator,omitempty"`
	// IdentityAttribute is the client-info auth attribute the reviewer was
	// read from ("subject" for oidc, "username" for basicauth).
	IdentityAttribute string    `json:"identity_attribute,omitempty"`
	At                time.Time `json:"at"`
}

// Where a review's reviewer comes from.
const (
	// ReviewerAuthenticated: the identity the server's auth extension put
	// in the request's client info; the request body's name is ignored.
	ReviewerAuthenticated = "authenticated"
	// ReviewerRequest: the name the request body gave, unverified (no
	// authenticator, or one that names nobody, such as bearertokenauth).
	ReviewerRequest = "request"
)

// SignalPoint is one signal's candidate and control values at a moment of
// an evaluation (running totals since the warm-up ended).
type SignalPoint struct {
	Signal           string  `json:"signal"`
	Candidate        float64 `json:"candidate"`
	Control          float64 `json:"control"`
	CandidateSamples int64   `json:"candidate_samples"`
	ControlSamples   int64   `json:"control_samples"`
	Confidence       float64 `json:"confidence"`
}

// SeriesPoint is an evaluation's state at one moment: what the operator
// page plots.
type SeriesPoint struct {
	At      time.Time     `json:"at"`
	Signals []SignalPoint `json:"signals"`
}
