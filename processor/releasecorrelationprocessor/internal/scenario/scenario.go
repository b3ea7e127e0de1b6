// Package scenario describes labelled deploy scenarios, generates the corpus
// of them, and simulates their telemetry second by second as OTLP data, so
// that detection can be measured the way it runs: through the processor, in
// simulated time.
package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Labels: what a correct detector concludes.
const (
	// LabelRegression: the release itself made things worse; it should be
	// detected (and, in production, rolled back).
	LabelRegression = "regression"
	// LabelHealthy: nothing changed; any action is a false alarm.
	LabelHealthy = "healthy"
	// LabelExogenous: things got worse, but not because of the release; a
	// notification is right, a rollback is a false action.
	LabelExogenous = "exogenous"
	// LabelHold: too little traffic to decide; anything but hold is a guess.
	LabelHold = "hold"
)

// Traffic is one version's (or the rest of the environment's) behaviour.
type Traffic struct {
	// RPS is requests per second.
	RPS float64 `json:"rps"`
	// ErrorRate is the share of requests that fail with HTTP 503.
	ErrorRate float64 `json:"error_rate"`
	// LatencyMs is the median latency; LatencySigma the log-normal spread.
	LatencyMs    float64 `json:"latency_ms"`
	LatencySigma float64 `json:"latency_sigma"`
	// The slowest TailShare of requests are TailFactor times slower: a
	// tail-only regression (TailShare 0.1, TailFactor 1.3 raises p95 by
	// 30% and leaves the median alone).
	TailShare  float64 `json:"tail_share,omitempty"`
	TailFactor float64 `json:"tail_factor,omitempty"`
	// LogsPerRequest log records are written per request, LogErrorRate of
	// them at severity ERROR.
	LogsPerRequest float64 `json:"logs_per_request,omitempty"`
	LogErrorRate   float64 `json:"log_error_rate,omitempty"`
	// Peer is a dependency called by PeerShare of requests; PeerErrorRate
	// of the calls fail, and a failed call fails the request.
	Peer          string  `json:"peer,omitempty"`
	PeerShare     float64 `json:"peer_share,omitempty"`
	PeerErrorRate float64 `json:"peer_error_rate,omitempty"`
	// Burstiness is the coefficient of variation of a per-second factor on
	// the error rate: noisy baselines.
	Burstiness float64 `json:"burstiness,omitempty"`
	// DriftPerMinute multiplies the error rate by (1 + drift) every minute:
	// a slow drift.
	DriftPerMinute float64 `json:"drift_per_minute,omitempty"`
	// OrdersPerRequest is a business KPI: the cumulative counter
	// orders.completed grows by this much per request.
	OrdersPerRequest float64 `json:"orders_per_request,omitempty"`
	// MetricsOnly services send no spans: requests, failures and latency
	// arrive as a cumulative http.server.request.duration histogram.
	MetricsOnly bool `json:"metrics_only,omitempty"`
}

// Scenario is one labelled deploy.
type Scenario struct {
	ID    string `json:"id"`
	Class string `json:"class"`
	Label string `json:"label"`
	// Strategy is the topology: canary (the previous version keeps serving
	// next to the candidate), all_at_once (it stops at the deploy, or after
	// DrainSeconds) or progressive (Rollout steps to 100%).
	Strategy string `json:"strategy"`
	Seed     uint64 `json:"seed"`
	// Before is the previous version before the deploy; Control the
	// previous version after it (canary only); Candidate the new version;
	// Others the rest of the environment.
	Before    Traffic `json:"before"`
	Control   Traffic `json:"control,omitempty"`
	Candidate Traffic `json:"candidate"`
	Others    Traffic `json:"others"`
	// OthersAfter, when set, replaces Others from the deploy on: an outage
	// of the whole environment.
	OthersAfter *Traffic `json:"others_after,omitempty"`
	// BeforeSeconds of history precede the deploy; AfterSeconds follow it.
	BeforeSeconds int `json:"before_seconds"`
	AfterSeconds  int `json:"after_seconds"`

	// The topology. Every field below is optional; left out, the scenario
	// is one versioned resource per version, in production, next to cart.

	// DeclaredStrategy is what the deploy event says when it is not the
	// topology's own name: "rolling", or "none" (no strategy given).
	// Strategy "progressive" is declared "canary".
	DeclaredStrategy string `json:"declared_strategy,omitempty"`
	// NoPreviousVersion: the deploy event does not name the previous
	// version; the version seen serving before it is the control.
	NoPreviousVersion bool `json:"no_previous_version,omitempty"`
	// EventEnvironment is the environment the deploy event names, and
	// TelemetryEnvironment the one every resource's
	// deployment.environment.name says (default "production"): an alias on
	// one side ("prod") must meet the canonical name on the other.
	EventEnvironment     string `json:"event_environment,omitempty"`
	TelemetryEnvironment string `json:"telemetry_environment,omitempty"`
	// Pods per version of the deployed service, each a resource of its own
	// (its service.instance.id, or its k8s.pod.name when Unversioned),
	// sharing the version's requests.
	Pods int `json:"pods,omitempty"`
	// Export, when set, makes each pod export its metrics periodically, at
	// its own interval and phase, instead of every second.
	Export *Export `json:"export,omitempty"`
	// DrainSeconds: with all_at_once, the previous version's pods keep
	// serving a shrinking share of requests for this long after the deploy.
	DrainSeconds int `json:"drain_seconds,omitempty"`
	// Unversioned resources of the deployed service carry no
	// service.version, only k8s.pod.name (<deployment>-<replicaset
	// hash>-<5 characters>) and k8s.deployment.name. VersionedLogs: its log
	// records' resources (same pod) do carry service.version.
	Unversioned   bool `json:"unversioned,omitempty"`
	VersionedLogs bool `json:"versioned_logs,omitempty"`
	// Lone: no other service sends telemetry in the environment.
	Lone bool `json:"lone,omitempty"`
	// Rollout are the steps of a progressive rollout (Strategy
	// "progressive"): the candidate's share of Before.RPS from AfterSeconds
	// after the deploy; the first is the deploy event's rollout_percentage,
	// the others "progressed" events. At 100 the previous version stops.
	Rollout []Step `json:"rollout,omitempty"`
}

// Export is how pods export metrics: every MinSeconds..MaxSeconds (drawn
// per pod, with a phase of its own), cumulative or Delta.
type Export struct {
	MinSeconds int  `json:"min_seconds"`
	MaxSeconds int  `json:"max_seconds"`
	Delta      bool `json:"delta,omitempty"`
}

// Step is one step of a progressive rollout.
type Step struct {
	AfterSeconds int     `json:"after_seconds"`
	Percentage   float64 `json:"percentage"`
}

// Load reads a corpus: one scenario per line.
func Load(path string) ([]Scenario, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Scenario
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var s Scenario
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// Encode renders a corpus, one scenario per line.
func Encode(scenarios []Scenario) ([]byte, error) {
	var b bytes.Buffer
	for _, s := range scenarios {
		line, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}
