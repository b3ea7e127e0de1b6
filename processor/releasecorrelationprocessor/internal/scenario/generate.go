package scenario

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// class generates the scenarios of one kind.
type class struct {
	name  string
	label string
	count int
	make  func(r *rand.Rand, s *Scenario)
}

func between(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// logUniform draws from [lo, hi] evenly on a log scale.
func logUniform(r *rand.Rand, lo, hi float64) float64 {
	return math.Exp(between(r, math.Log(lo), math.Log(hi)))
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// base is a service's normal behaviour.
func base(r *rand.Rand, rps float64) Traffic {
	return Traffic{
		RPS: round(rps, 1), ErrorRate: round(logUniform(r, 0.002, 0.02), 4),
		LatencyMs: round(logUniform(r, 15, 250), 1), LatencySigma: round(between(r, 0.2, 0.5), 2),
		LogsPerRequest: round(between(r, 0.5, 2), 2), LogErrorRate: round(logUniform(r, 0.001, 0.01), 4),
	}
}

// canary splits a service's traffic: the candidate gets 20 req/s (the
// issue's reference load) or what the class asks, the control the rest.
func canary(r *rand.Rand, s *Scenario, candRPS float64) {
	s.Strategy = "canary"
	total := candRPS / between(r, 0.05, 0.25)
	s.Before = base(r, total)
	s.Control = s.Before
	s.Control.RPS = round(total-candRPS, 1)
	s.Candidate = s.Before
	s.Candidate.RPS = round(candRPS, 1)
	s.Others = base(r, round(between(r, 50, 200), 0))
	s.BeforeSeconds = 120
	s.AfterSeconds = 300
}

func allAtOnce(r *rand.Rand, s *Scenario, rps float64) {
	s.Strategy = "all_at_once"
	s.Before = base(r, rps)
	s.Candidate = s.Before
	s.Others = base(r, round(between(r, 50, 200), 0))
	s.BeforeSeconds = 600
	s.AfterSeconds = 300
}

var classes = []class{
	{"healthy_canary", LabelHealthy, 120, func(r *rand.Rand, s *Scenario) { canary(r, s, logUniform(r, 5, 60)) }},
	{"healthy_all_at_once", LabelHealthy, 60, func(r *rand.Rand, s *Scenario) { allAtOnce(r, s, logUniform(r, 10, 100)) }},
	{"noisy_baseline", LabelHealthy, 30, func(r *rand.Rand, s *Scenario) {
		canary(r, s, logUniform(r, 10, 60))
		b := round(between(r, 0.3, 1.0), 2)
		s.Before.Burstiness, s.Control.Burstiness, s.Candidate.Burstiness = b, b, b
	}},
	{"slow_drift", LabelHealthy, 20, func(r *rand.Rand, s *Scenario) {
		// Everything drifts together (a traffic mix changing over the day).
		canary(r, s, logUniform(r, 10, 60))
		d := round(between(r, 0.02, 0.08), 3)
		s.Before.DriftPerMinute, s.Control.DriftPerMinute, s.Candidate.DriftPerMinute, s.Others.DriftPerMinute = d, d, d, d
	}},
	{"outage_both_versions", LabelExogenous, 30, func(r *rand.Rand, s *Scenario) {
		canary(r, s, logUniform(r, 10, 60))
		e := round(between(r, 0.1, 0.4), 3)
		s.Control.ErrorRate = e
		s.Candidate.ErrorRate = round(e*between(r, 1.0, 1.4), 3)
	}},
	{"dependency_outage", LabelExogenous, 20, func(r *rand.Rand, s *Scenario) {
		canary(r, s, logUniform(r, 10, 60))
		fail := round(between(r, 0.2, 0.6), 3)
		s.Before.Peer, s.Before.PeerShare, s.Before.PeerErrorRate = "payments", 0.1, 0.001
		s.Control.Peer, s.Control.PeerShare, s.Control.PeerErrorRate = "payments", 0.1, fail
		// The new version calls the dependency on every request.
		s.Candidate.Peer, s.Candidate.PeerShare, s.Candidate.PeerErrorRate = "payments", 1, fail
	}},
	{"outage_all_at_once", LabelExogenous, 20, func(r *rand.Rand, s *Scenario) {
		// An all-at-once deploy lands during an outage of the whole
		// environment: the services not deployed degrade as much.
		allAtOnce(r, s, logUniform(r, 15, 60))
		e := round(between(r, 0.1, 0.3), 3)
		s.Candidate.ErrorRate = e
		after := s.Others
		after.ErrorRate = round(e*between(r, 0.8, 1.2), 3)
		s.OthersAfter = &after
	}},
	{"errors_1_to_2pct", LabelRegression, 40, func(r *rand.Rand, s *Scenario) {
		canary(r, s, 20)
		s.Before.ErrorRate, s.Control.ErrorRate, s.Candidate.ErrorRate = 0.01, 0.01, 0.02
		s.AfterSeconds = 900
	}},
	{"errors_1_to_5pct", LabelRegression, 40, func(r *rand.Rand, s *Scenario) {
		canary(r, s, 20)
		s.Before.ErrorRate, s.Control.ErrorRate, s.Candidate.ErrorRate = 0.01, 0.01, 0.05
	}},
	{"errors_0_to_1pct", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		canary(r, s, 20)
		s.Before.ErrorRate, s.Control.ErrorRate, s.Candidate.ErrorRate = 0, 0, 0.01
	}},
	{"errors_all_at_once", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		allAtOnce(r, s, 20)
		s.Before.ErrorRate, s.Candidate.ErrorRate = 0.01, 0.05
	}},
	{"latency_p95_plus_30pct", LabelRegression, 40, func(r *rand.Rand, s *Scenario) {
		// The slowest tenth of requests become 1.3x slower: p95 +30%,
		// median unchanged.
		canary(r, s, 20)
		s.Candidate.TailShare, s.Candidate.TailFactor = 0.1, 1.3
		s.AfterSeconds = 900
	}},
	{"latency_median_plus_30pct", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		canary(r, s, 20)
		s.Candidate.LatencyMs = round(s.Before.LatencyMs*1.3, 1)
	}},
	{"log_errors", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		canary(r, s, 20)
		s.Candidate.LogErrorRate = round(math.Max(0.05, 5*s.Before.LogErrorRate), 4)
	}},
	{"kpi_drop", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		// Orders per request fall by 30%; errors and latency are unchanged.
		canary(r, s, 20)
		o := round(between(r, 0.1, 0.3), 3)
		s.Before.OrdersPerRequest, s.Control.OrdersPerRequest = o, o
		s.Candidate.OrdersPerRequest = round(0.7*o, 4)
		s.AfterSeconds = 600
	}},
	{"metrics_only_errors", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		// No spans: http.server.request.duration carries the failures.
		canary(r, s, 20)
		for _, t := range []*Traffic{&s.Before, &s.Control, &s.Candidate} {
			t.MetricsOnly = true
		}
		s.Before.ErrorRate, s.Control.ErrorRate, s.Candidate.ErrorRate = 0.01, 0.01, 0.05
	}},
	{"low_traffic", LabelHold, 20, func(r *rand.Rand, s *Scenario) {
		canary(r, s, between(r, 0.05, 0.2))
		s.Control.RPS = round(between(r, 0.2, 0.8), 2)
		s.Before.RPS = s.Control.RPS
		s.Candidate.ErrorRate = 0.3
	}},
}

// The topologies of a first contact (issue 8). Every run has only its own
// deploy event: none of them, nor the classes above, seeds an earlier deploy.

// errors1to5 is the reference regression: 1% -> 5% errors.
func errors1to5(s *Scenario) {
	s.Before.ErrorRate, s.Control.ErrorRate, s.Candidate.ErrorRate = 0.01, 0.01, 0.05
}

// aliased names the environment one way in the deploy event and another in
// the telemetry.
func aliased(r *rand.Rand, s *Scenario) {
	pairs := [][2]string{{"production", "prod"}, {"prod", "production"}, {"prd", "production"}, {"production", "Prod"}}
	p := pairs[r.IntN(len(pairs))]
	s.EventEnvironment, s.TelemetryEnvironment = p[0], p[1]
}

// multiPod: a metrics-only service, three pods per version, each exporting
// http.server.request.duration every 10-60 s at its own phase; no spans,
// no logs.
func multiPod(r *rand.Rand, s *Scenario, delta bool) {
	canary(r, s, 20)
	for _, t := range []*Traffic{&s.Before, &s.Control, &s.Candidate} {
		t.MetricsOnly, t.LogsPerRequest, t.LogErrorRate = true, 0, 0
	}
	s.Pods = 3
	s.Export = &Export{MinSeconds: 10, MaxSeconds: 60, Delta: delta}
	s.AfterSeconds = 600
}

// draining: an all-at-once deploy whose old pods serve for a few more
// seconds; the event says all_at_once, rolling or nothing, and names the
// previous version or not.
func draining(r *rand.Rand, s *Scenario) {
	allAtOnce(r, s, logUniform(r, 20, 60))
	s.BeforeSeconds = 300
	s.DrainSeconds = 3 + r.IntN(6)
	s.DeclaredStrategy = []string{"", "rolling", "none"}[r.IntN(3)]
	s.NoPreviousVersion = r.IntN(2) == 0
}

// noVersion: three pods per version whose resources carry k8s.pod.name and
// k8s.deployment.name, not service.version. Either a canary whose logs do
// carry the version (learned per pod and ReplicaSet), or an all-at-once
// deploy where nothing does.
func noVersion(r *rand.Rand, s *Scenario, learned bool) {
	if learned {
		canary(r, s, 20)
		s.VersionedLogs = true
		s.DeclaredStrategy = []string{"", "rolling"}[r.IntN(2)]
	} else {
		allAtOnce(r, s, logUniform(r, 20, 60))
		s.BeforeSeconds = 300
	}
	s.Pods = 3
	s.Unversioned = true
}

// lone: an all-at-once deploy with no other service in the environment.
func lone(r *rand.Rand, s *Scenario) {
	allAtOnce(r, s, logUniform(r, 20, 60))
	s.BeforeSeconds = 300
	s.Lone = true
	s.Others = Traffic{}
}

// progressive: canary 10% -> 50% -> 100% of the service's traffic, the
// previous version stopping at 100%. It runs for the whole evaluation (the
// default max_duration, 30 minutes) after a full baseline window, so that
// it ends with a verdict: healthy, or the hold that max_duration gives.
func progressive(r *rand.Rand, s *Scenario) {
	s.Strategy = "progressive"
	s.Before = base(r, round(logUniform(r, 40, 200), 0))
	s.Control, s.Candidate = s.Before, s.Before
	// The rest of the environment is lighter than in the other classes:
	// these scenarios run for 40 minutes.
	s.Others = base(r, round(between(r, 20, 60), 0))
	s.BeforeSeconds = 600
	half := 60 + 30*r.IntN(5)
	s.Rollout = []Step{{0, 10}, {half, 50}, {2 * half, 100}}
	s.AfterSeconds = 1800
}

var firstContact = []class{
	{"errors_no_previous_version", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		// The event names no previous version: the version seen serving
		// before the deploy is the control.
		canary(r, s, 20)
		errors1to5(s)
		s.NoPreviousVersion = true
	}},
	{"alias_healthy", LabelHealthy, 20, func(r *rand.Rand, s *Scenario) {
		canary(r, s, logUniform(r, 5, 60))
		aliased(r, s)
	}},
	{"alias_errors", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		canary(r, s, 20)
		errors1to5(s)
		aliased(r, s)
	}},
	{"multipod_cumulative_healthy", LabelHealthy, 20, func(r *rand.Rand, s *Scenario) { multiPod(r, s, false) }},
	{"multipod_cumulative_errors", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		multiPod(r, s, false)
		errors1to5(s)
	}},
	{"multipod_delta_healthy", LabelHealthy, 20, func(r *rand.Rand, s *Scenario) { multiPod(r, s, true) }},
	{"multipod_delta_errors", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		multiPod(r, s, true)
		errors1to5(s)
	}},
	{"draining_healthy", LabelHealthy, 20, func(r *rand.Rand, s *Scenario) { draining(r, s) }},
	{"draining_errors", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		draining(r, s)
		s.Before.ErrorRate, s.Candidate.ErrorRate = 0.01, 0.05
	}},
	{"no_version_healthy", LabelHealthy, 20, func(r *rand.Rand, s *Scenario) { noVersion(r, s, r.IntN(2) == 0) }},
	{"no_version_learned_errors", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		noVersion(r, s, true)
		errors1to5(s)
	}},
	{"no_version_all_at_once_errors", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		noVersion(r, s, false)
		s.Before.ErrorRate, s.Candidate.ErrorRate = 0.01, 0.05
	}},
	{"lone_healthy", LabelHealthy, 20, func(r *rand.Rand, s *Scenario) { lone(r, s) }},
	{"lone_dependency_outage", LabelExogenous, 20, func(r *rand.Rand, s *Scenario) {
		// Alone in its environment, the service's own dependency fails
		// from the deploy on: its client spans are the outside evidence.
		lone(r, s)
		s.Before.Peer, s.Before.PeerShare, s.Before.PeerErrorRate = "payments", 0.3, 0.001
		s.Candidate.Peer, s.Candidate.PeerShare = "payments", 0.3
		s.Candidate.PeerErrorRate = round(between(r, 0.2, 0.5), 3)
	}},
	{"lone_errors", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		lone(r, s)
		s.Before.ErrorRate, s.Candidate.ErrorRate = 0.01, 0.05
	}},
	{"tail_p99_x3", LabelRegression, 20, func(r *rand.Rand, s *Scenario) {
		// The slowest 5% of requests become 3x slower: p99 x3, the
		// median unchanged.
		canary(r, s, 20)
		s.Candidate.TailShare, s.Candidate.TailFactor = 0.05, 3
		s.AfterSeconds = 600
	}},
	{"progressive_healthy", LabelHealthy, 20, func(r *rand.Rand, s *Scenario) { progressive(r, s) }},
}

// Generate builds the corpus from the classes, deterministically.
func Generate() []Scenario {
	var out []Scenario
	for ci, c := range append(append([]class(nil), classes...), firstContact...) {
		r := rand.New(rand.NewPCG(uint64(ci)+1, 0x5eed))
		for i := 0; i < c.count; i++ {
			s := Scenario{ID: fmt.Sprintf("%s-%03d", c.name, i), Class: c.name, Label: c.label, Seed: r.Uint64() >> 11}
			c.make(r, &s)
			out = append(out, s)
		}
	}
	return out
}
