package release

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Status is where a release stands.
type Status string

const (
	// StatusInProgress: rolling out; the version under evaluation.
	StatusInProgress Status = "in_progress"
	// StatusSucceeded: fully rolled out and live.
	StatusSucceeded Status = "succeeded"
	// StatusFailed: the deploy itself failed; the previous version stays live.
	StatusFailed Status = "failed"
	// StatusRolledBack: rolled back; the previous version is live again.
	StatusRolledBack Status = "rolled_back"
	// StatusSuperseded: replaced by a newer release.
	StatusSuperseded Status = "superseded"
	// StatusRemoved: the service was removed from the environment.
	StatusRemoved Status = "removed"
)

// Statuses lists every status, for validation of API filters.
var Statuses = []Status{StatusInProgress, StatusSucceeded, StatusFailed, StatusRolledBack, StatusSuperseded, StatusRemoved}

// SourceObserved is the source of an implicit release: a new version seen
// in a service's telemetry with no deploy event.
const SourceObserved = "observed"

// Live reports whether a release in this status can be serving traffic.
func (s Status) Live() bool { return s == StatusInProgress || s == StatusSucceeded }

// EventRef is what a release keeps of each event applied to it.
type EventRef struct {
	ID                string    `json:"id"`
	Type              EventType `json:"type"`
	Source            string    `json:"source"`
	Time              time.Time `json:"time"`
	ReceivedAt        time.Time `json:"received_at"`
	RolloutPercentage *float64  `json:"rollout_percentage,omitempty"`
}

// Release is one deployment of a version to a key, as the store keeps it and
// the API returns it. Its JSON mirrors the native document (attributes and
// release context) plus status and lifecycle times. Values handed out by the
// store are immutable: the store replaces, never mutates, a published Release.
type Release struct {
	ID          string            `json:"id"`
	Status      Status            `json:"status"`
	Attributes  map[string]string `json:"attributes"`
	Release     Context           `json:"release"`
	Source      string            `json:"source"`
	StartedAt   time.Time         `json:"started_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	CompletedAt *time.Time        `json:"completed_at,omitempty"`
	EndedAt     *time.Time        `json:"ended_at,omitempty"`
	Events      []EventRef        `json:"events"`
	Annotations []Annotation      `json:"annotations,omitempty"`
}

// Key returns the release's key.
func (r *Release) Key() Key {
	return Key{
		Service: ServiceKey{
			Namespace:   r.Attributes[AttrServiceNamespace],
			Name:        r.Attributes[AttrServiceName],
			Environment: r.Attributes[AttrDeploymentEnvironment],
		},
		Scope: CanonicalScope(r.Release.Scope),
	}
}

// Version is the release's service.version as sent.
func (r *Release) Version() string { return r.Attributes[AttrServiceVersion] }

// Annotation is an engineer's feedback on a release or a decision.
type Annotation struct {
	ID         string    `json:"id"`
	ReleaseID  string    `json:"release_id"`
	DecisionID string    `json:"decision_id,omitempty"`
	Label      string    `json:"label"`
	Text       string    `json:"text,omitempty"`
	Link       string    `json:"link,omitempty"`
	Author     string    `json:"author,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// AnnotationLabels are the labels an annotation may carry.
var AnnotationLabels = []string{"note", "false_alarm", "root_cause", "confirmed"}

// Validate checks an annotation posted by a person.
func (a *Annotation) Validate() error {
	a.Label = strings.TrimSpace(strings.ToLower(a.Label))
	if a.Label == "" {
		a.Label = "note"
	}
	if !contains(AnnotationLabels, a.Label) {
		return Fieldf("label", RuleEnum, "%q is not an annotation label; one of %s", a.Label, strings.Join(AnnotationLabels, ", "))
	}
	a.Text, a.Link, a.Author = strings.TrimSpace(a.Text), strings.TrimSpace(a.Link), strings.TrimSpace(a.Author)
	if a.Text == "" && a.Link == "" {
		return Fieldf("text", RuleRequired, "an annotation needs text or a link")
	}
	if len(a.Text) > maxTextLength {
		return Fieldf("text", RuleTooLong, "is %d bytes long; at most %d are accepted", len(a.Text), maxTextLength)
	}
	if len(a.Link) > maxValueLength {
		return Fieldf("link", RuleTooLong, "is %d bytes long; at most %d are accepted", len(a.Link), maxValueLength)
	}
	if a.Link != "" && !strings.HasPrefix(a.Link, "https://") && !strings.HasPrefix(a.Link, "http://") {
		return Fieldf("link", RuleFormat, "must be an http or https URL")
	}
	if len(a.Author) > maxValueLength {
		return Fieldf("author", RuleTooLong, "is longer than %d bytes", maxValueLength)
	}
	return nil
}

// Action is what a decision asks for.
type Action string

const (
	ActionNone     Action = "none"
	ActionHold     Action = "hold"
	ActionNotify   Action = "notify"
	ActionPause    Action = "pause"
	ActionFlagOff  Action = "flag_off"
	ActionRollback Action = "rollback"
)

// Verdict is the detector's conclusion.
type Verdict string

const (
	VerdictHealthy      Verdict = "healthy"
	VerdictRegression   Verdict = "regression"
	VerdictInconclusive Verdict = "inconclusive"
)

// Cause says whether a regression is the release's own fault.
type Cause string

const (
	CauseEndogenous Cause = "endogenous"
	CauseExogenous  Cause = "exogenous"
	CauseUnknown    Cause = "unknown"
)

// Window is a time interval of evidence.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Samples are the sample sizes behind a comparison.
type Samples struct {
	Control   int64 `json:"control"`
	Candidate int64 `json:"candidate"`
}

// Evidence is one signal's comparison of candidate against control.
type Evidence struct {
	Signal     string   `json:"signal"`
	Control    float64  `json:"control"`
	Candidate  float64  `json:"candidate"`
	Effect     float64  `json:"effect"`
	Confidence float64  `json:"confidence"`
	Samples    Samples  `json:"samples"`
	Window     Window   `json:"window"`
	Exemplars  []string `json:"exemplars,omitempty"`
	// Slices names the breakdown slices that regressed most.
	Slices []Slice `json:"slices,omitempty"`
}

// Slice is one breakdown dimension value and its candidate/control values.
type Slice struct {
	Dimension string  `json:"dimension"`
	Value     string  `json:"value"`
	Control   float64 `json:"control"`
	Candidate float64 `json:"candidate"`
}

// DecisionFeatureFlags is the key, in a decision's release block, of the
// release's feature flags: "key=variant" pairs separated by commas.
const DecisionFeatureFlags = "feature_flags"

// Decision is the decision document of PRODUCT.md: the log record body, the
// API row and the body of every action sent to a target.
type Decision struct {
	DecisionID string            `json:"decision_id"`
	Action     Action            `json:"action"`
	Verdict    Verdict           `json:"verdict"`
	Cause      Cause             `json:"cause"`
	Confidence float64           `json:"confidence"`
	DryRun     bool              `json:"dry_run"`
	DecidedAt  time.Time         `json:"decided_at"`
	Release    map[string]string `json:"release"`
	Evidence   []Evidence        `json:"evidence"`
	Rationale  string            `json:"rationale"`
}

// ReleaseID is the deployment.id the decision is about.
func (d *Decision) ReleaseID() string { return d.Release[AttrDeploymentID] }

// Validate checks the fields every consumer relies on.
func (d *Decision) Validate() error {
	if d.DecisionID == "" {
		return Fieldf("decision_id", RuleRequired, "is required")
	}
	switch d.Action {
	case ActionNone, ActionHold, ActionNotify, ActionPause, ActionFlagOff, ActionRollback:
	default:
		return Fieldf("action", RuleEnum, "%q is not an action", d.Action)
	}
	switch d.Verdict {
	case VerdictHealthy, VerdictRegression, VerdictInconclusive:
	default:
		return Fieldf("verdict", RuleEnum, "%q is not a verdict", d.Verdict)
	}
	switch d.Cause {
	case CauseEndogenous, CauseExogenous, CauseUnknown:
	default:
		return Fieldf("cause", RuleEnum, "%q is not a cause", d.Cause)
	}
	if d.ReleaseID() == "" {
		return Fieldf("release."+AttrDeploymentID, RuleRequired, "is required")
	}
	if d.Confidence < 0 || d.Confidence > 1 {
		return Fieldf("confidence", RuleRange, "%v is outside 0..1", d.Confidence)
	}
	return nil
}

// Summary is a one-line description of a release for logs and bodies.
func (r *Release) Summary() string {
	s := fmt.Sprintf("%s %s in %s", QualifiedServiceNameOf(r.Attributes), r.Version(), r.Attributes[AttrDeploymentEnvironment])
	if r.Release.Scope != nil {
		s += " (" + CanonicalScope(r.Release.Scope) + ")"
	}
	return s
}

// MatchAny reports whether any value matches any glob pattern (path.Match
// syntax). No patterns match everything.
func MatchAny(patterns []string, values ...string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		for _, v := range values {
			if ok, _ := path.Match(p, v); ok {
				return true
			}
		}
	}
	return false
}
