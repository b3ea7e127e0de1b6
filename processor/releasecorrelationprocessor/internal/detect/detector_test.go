package detect

import (
	"math/rand/v2"

	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

var svc = release.ServiceKey{Namespace: "shop", Name: "checkout", Environment: "production"}

// version describes a version's traffic.
type version struct {
	rps       float64
	errorRate float64
	latency   time.Duration // median; log-normal spread
	// peer, peerShare and peerErrorRate: a dependency called by a share
	// of requests, failing at a rate; a failed call fails the request.
	peer          string
	peerShare     float64
	peerErrorRate float64
}

// spans builds one second of a version's server spans (and client calls).
func spans(r *rand.Rand, v version) ptrace.ScopeSpansSlice {
	td := ptrace.NewTraces()
	sss := td.ResourceSpans().AppendEmpty().ScopeSpans()
	ss := sss.AppendEmpty().Spans()
	n := int(v.rps)
	if frac := v.rps - float64(n); r.Float64() < frac {
		n++
	}
	for i := 0; i < n; i++ {
		sp := ss.AppendEmpty()
		sp.SetKind(ptrace.SpanKindServer)
		var tid pcommon.TraceID
		tid[0], tid[1] = byte(r.IntN(256)), byte(i)
		sp.SetTraceID(tid)
		d := time.Duration(float64(v.latency) * (0.6 + 0.8*r.Float64()))
		sp.SetStartTimestamp(1)
		sp.SetEndTimestamp(pcommon.Timestamp(1 + d))
		failed := r.Float64() < v.errorRate
		if v.peer != "" && r.Float64() < v.peerShare {
			c := ss.AppendEmpty()
			c.SetKind(ptrace.SpanKindClient)
			c.Attributes().PutStr("peer.service", v.peer)
			if r.Float64() < v.peerErrorRate {
				c.Status().SetCode(ptrace.StatusCodeError)
				failed = true
			}
		}
		if failed {
			sp.Attributes().PutInt("http.response.status_code", 503)
		} else {
			sp.Attributes().PutInt("http.response.status_code", 200)
		}
	}
	return sss
}

type scenario struct {
	strategy        release.Strategy
	before          version // the previous version before the deploy
	control, cand   version // after the deploy
	others          version // other services in the environment
	beforeSeconds   int
	afterSeconds    int
	changeAtSeconds int // the candidate switches to candLater at this time
	candLater       *version
	// controlSeconds, when set, is how long the previous version serves
	// after the deploy (draining pods, a rollout reaching 100%).
	controlSeconds int
	// beforeLate, when set, is the previous version's traffic over the last
	// beforeLateSeconds before the deploy (already degrading).
	beforeLate        *version
	beforeLateSeconds int
	// previousVersion overrides the deploy event's previous_version ("-"
	// for none).
	previousVersion string
}

func (sc scenario) degradingBefore(late version, seconds int) scenario {
	sc.beforeLate, sc.beforeLateSeconds = &late, seconds
	return sc
}

type outcome struct {
	decisions []*release.Decision
	series    []release.SeriesPoint
	deployAt  time.Time
}

func (o outcome) first(action release.Action) (*release.Decision, bool) {
	for _, d := range o.decisions {
		if d.Action == action {
			return d, true
		}
	}
	return nil, false
}

func runScenario(t *testing.T, seed uint64, sc scenario) outcome {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	clk := &fakeClock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	var out outcome
	d := New(DefaultConfig(), clk, func(dec *release.Decision) { out.decisions = append(out.decisions, dec) })
	d.SetSeriesSink(func(id string, p release.SeriesPoint) { out.series = append(out.series, p) })
	old := ArmKey{Service: svc, Version: "1.4.1"}
	neu := ArmKey{Service: svc, Version: "1.4.2"}
	other := ArmKey{Service: release.ServiceKey{Name: "cart", Environment: "production"}, Version: "7"}
	cls := d.Classifier()
	second := func(versions map[ArmKey]version) {
		// In a fixed order, so that a seed always gives the same data.
		keys := make([]ArmKey, 0, len(versions))
		for k := range versions {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			return keys[i].Service.Name+keys[i].Version < keys[j].Service.Name+keys[j].Version
		})
		for _, k := range keys {
			if v := versions[k]; v.rps > 0 {
				d.Arm(k, "").RecordSpans(cls, pcommon.NewMap(), spans(r, v), clk.now)
			}
		}
		clk.now = clk.now.Add(time.Second)
		d.Tick()
	}
	for s := 0; s < sc.beforeSeconds; s++ {
		before := sc.before
		if sc.beforeLate != nil && s >= sc.beforeSeconds-sc.beforeLateSeconds {
			before = *sc.beforeLate
		}
		second(map[ArmKey]version{old: before, other: sc.others})
	}
	out.deployAt = clk.now
	rel := &release.Release{ID: "deploy-4711", Status: release.StatusInProgress, StartedAt: clk.now,
		Attributes: map[string]string{release.AttrServiceName: "checkout", release.AttrServiceNamespace: "shop",
			release.AttrServiceVersion: "v1.4.2", release.AttrDeploymentEnvironment: "production"},
		Release: release.Context{PreviousVersion: "v1.4.1", Strategy: sc.strategy}}
	switch sc.previousVersion {
	case "":
	case "-":
		rel.Release.PreviousVersion = ""
	default:
		rel.Release.PreviousVersion = sc.previousVersion
	}
	d.OnRelease(rel)
	for s := 0; s < sc.afterSeconds; s++ {
		cand := sc.cand
		if sc.candLater != nil && s >= sc.changeAtSeconds {
			cand = *sc.candLater
		}
		control := sc.control
		if sc.controlSeconds > 0 && s >= sc.controlSeconds {
			control = version{}
		}
		second(map[ArmKey]version{old: control, neu: cand, other: sc.others})
	}
	return out
}

func TestCanaryErrorRegressionRollsBack(t *testing.T) {
	out := runScenario(t, 1, scenario{
		strategy: release.StrategyCanary, beforeSeconds: 120, afterSeconds: 120,
		before:  version{rps: 200, errorRate: 0.01, latency: 50 * time.Millisecond},
		control: version{rps: 180, errorRate: 0.01, latency: 50 * time.Millisecond},
		cand:    version{rps: 20, errorRate: 0.05, latency: 50 * time.Millisecond},
		others:  version{rps: 100, errorRate: 0.01, latency: 20 * time.Millisecond},
	})
	d, ok := out.first(release.ActionRollback)
	if !ok {
		t.Fatalf("no rollback; decisions: %+v", out.decisions)
	}
	if d.Verdict != release.VerdictRegression || d.Cause != release.CauseEndogenous || d.Confidence < 0.99 {
		t.Fatalf("unexpected decision %+v", d)
	}
	if took := d.DecidedAt.Sub(out.deployAt); took > 40*time.Second {
		t.Fatalf("decided after %s", took)
	}
	e := d.Evidence[0]
	if e.Signal != release.SignalErrorRate || e.Candidate < 0.03 || e.Control > 0.02 || len(e.Exemplars) != 5 || e.Samples.Candidate < 100 {
		t.Fatalf("evidence %+v", e)
	}
	if d.DecisionID != "dec-deploy-4711-rollback" || d.Release[release.AttrDeploymentID] != "deploy-4711" || d.Release["previous_version"] != "v1.4.1" {
		t.Fatalf("identity %+v", d)
	}
	for _, want := range []string{"shop/checkout v1.4.2 fails", "% of requests vs ", "for v1.4.1", "confident it is worse", "The release's own fault", "Action: rollback."} {
		if !strings.Contains(d.Rationale, want) {
			t.Fatalf("rationale %q lacks %q", d.Rationale, want)
		}
	}
	// At most an early notification (0.95) escalated to the rollback (0.99).
	if n := len(out.decisions); n > 2 || (n == 2 && out.decisions[0].Action != release.ActionNotify) {
		t.Fatalf("one decision per release and action, escalating only; got %+v", out.decisions)
	}
	t.Logf("decided in %s: %s", d.DecidedAt.Sub(out.deployAt), d.Rationale)

	// The evaluation's state was sent every 5 s for the plots.
	require.NotEmpty(t, out.series)
	last := out.series[len(out.series)-1]
	require.Equal(t, release.SignalErrorRate, last.Signals[0].Signal)
	if last.Signals[0].Candidate < 0.02 || last.Signals[0].CandidateSamples == 0 {
		t.Fatalf("series point %+v", last)
	}
	for i := 1; i < len(out.series); i++ {
		if gap := out.series[i].At.Sub(out.series[i-1].At); gap != 5*time.Second {
			t.Fatalf("points %s apart", gap)
		}
	}
}

func TestHealthyCanary(t *testing.T) {
	for seed := uint64(2); seed < 7; seed++ {
		out := runScenario(t, seed, scenario{
			strategy: release.StrategyCanary, beforeSeconds: 120, afterSeconds: 900,
			before:  version{rps: 200, errorRate: 0.01, latency: 50 * time.Millisecond},
			control: version{rps: 150, errorRate: 0.01, latency: 50 * time.Millisecond},
			cand:    version{rps: 50, errorRate: 0.01, latency: 50 * time.Millisecond},
			others:  version{rps: 100, errorRate: 0.01, latency: 20 * time.Millisecond},
		})
		if len(out.decisions) != 1 || out.decisions[0].Verdict != release.VerdictHealthy || out.decisions[0].Action != release.ActionNone {
			t.Fatalf("seed %d: want one healthy decision, got %+v", seed, out.decisions)
		}
		t.Logf("seed %d: healthy after %s: %s", seed, out.decisions[0].DecidedAt.Sub(out.deployAt), out.decisions[0].Rationale)
	}
}

func TestOutageHittingBothVersionsIsNotRolledBack(t *testing.T) {
	out := runScenario(t, 3, scenario{
		strategy: release.StrategyCanary, beforeSeconds: 120, afterSeconds: 180,
		before:  version{rps: 200, errorRate: 0.01, latency: 50 * time.Millisecond},
		control: version{rps: 180, errorRate: 0.2, latency: 50 * time.Millisecond},
		cand:    version{rps: 20, errorRate: 0.3, latency: 50 * time.Millisecond},
		others:  version{rps: 100, errorRate: 0.01, latency: 20 * time.Millisecond},
	})
	if d, ok := out.first(release.ActionRollback); ok {
		t.Fatalf("rolled back during an outage of both versions: %+v", d)
	}
	d, ok := out.first(release.ActionNotify)
	if !ok || d.Cause != release.CauseExogenous {
		t.Fatalf("want an exogenous notification, got %+v", out.decisions)
	}
	t.Logf("%s", d.Rationale)
}

func TestDependencyOutageIsExogenous(t *testing.T) {
	out := runScenario(t, 4, scenario{
		strategy: release.StrategyCanary, beforeSeconds: 120, afterSeconds: 180,
		// payments fails 30% of calls for everyone; the new version calls it
		// on every request, the old one on 10%.
		before:  version{rps: 200, errorRate: 0.001, latency: 50 * time.Millisecond, peer: "payments", peerShare: 0.1, peerErrorRate: 0.001},
		control: version{rps: 180, errorRate: 0.001, latency: 50 * time.Millisecond, peer: "payments", peerShare: 0.1, peerErrorRate: 0.3},
		cand:    version{rps: 20, errorRate: 0.001, latency: 50 * time.Millisecond, peer: "payments", peerShare: 1, peerErrorRate: 0.3},
		others:  version{rps: 100, errorRate: 0.01, latency: 20 * time.Millisecond},
	})
	if d, ok := out.first(release.ActionRollback); ok {
		t.Fatalf("rolled back for a dependency failing for both: %+v", d)
	}
	d, ok := out.first(release.ActionNotify)
	if !ok || d.Cause != release.CauseExogenous || !strings.Contains(d.Rationale, "payments") {
		t.Fatalf("want an exogenous notification naming payments, got %+v", out.decisions)
	}
}

func TestLowTrafficHolds(t *testing.T) {
	out := runScenario(t, 5, scenario{
		strategy: release.StrategyCanary, beforeSeconds: 60, afterSeconds: 120,
		before:  version{rps: 2, errorRate: 0.01, latency: 50 * time.Millisecond},
		control: version{rps: 0.5, errorRate: 0.01, latency: 50 * time.Millisecond},
		cand:    version{rps: 0.2, errorRate: 0.5, latency: 50 * time.Millisecond},
	})
	if len(out.decisions) != 1 || out.decisions[0].Action != release.ActionHold || out.decisions[0].Verdict != release.VerdictInconclusive {
		t.Fatalf("want one hold, got %+v", out.decisions)
	}
	if !strings.Contains(out.decisions[0].Rationale, "too little traffic") {
		t.Fatalf("rationale %q", out.decisions[0].Rationale)
	}
}

func TestAllAtOnceAgainstBaseline(t *testing.T) {
	out := runScenario(t, 6, scenario{
		strategy: release.StrategyAllAtOnce, beforeSeconds: 300, afterSeconds: 180,
		before: version{rps: 20, errorRate: 0.01, latency: 50 * time.Millisecond},
		cand:   version{rps: 20, errorRate: 0.05, latency: 50 * time.Millisecond},
		others: version{rps: 100, errorRate: 0.01, latency: 20 * time.Millisecond},
	})
	d, ok := out.first(release.ActionRollback)
	if !ok || d.Cause != release.CauseEndogenous {
		t.Fatalf("want an endogenous rollback, got %+v", out.decisions)
	}
	if !strings.Contains(d.Rationale, "for v1.4.1 before the deploy") {
		t.Fatalf("rationale %q", d.Rationale)
	}
	t.Logf("all-at-once decided in %s", d.DecidedAt.Sub(out.deployAt))
}

func TestLatencyRegression(t *testing.T) {
	out := runScenario(t, 7, scenario{
		strategy: release.StrategyCanary, beforeSeconds: 120, afterSeconds: 180,
		before:  version{rps: 200, errorRate: 0.001, latency: 50 * time.Millisecond},
		control: version{rps: 180, errorRate: 0.001, latency: 50 * time.Millisecond},
		cand:    version{rps: 20, errorRate: 0.001, latency: 65 * time.Millisecond},
		others:  version{rps: 100, errorRate: 0.001, latency: 20 * time.Millisecond},
	})
	d, ok := out.first(release.ActionRollback)
	if !ok || !strings.HasPrefix(d.Evidence[0].Signal, "latency_") {
		t.Fatalf("want a latency rollback, got %+v", out.decisions)
	}
	t.Logf("%s", d.Rationale)
}

func TestEvictionSparesSeriesUnderEvaluation(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	cfg := DefaultConfig()
	cfg.MaxArms = 3
	d := New(cfg, clk, func(*release.Decision) {})
	old, neu := ArmKey{Service: svc, Version: "1.4.1"}, ArmKey{Service: svc, Version: "1.4.2"}
	d.Arm(old, "")
	clk.now = clk.now.Add(time.Second)
	d.Arm(neu, "")
	d.OnRelease(&release.Release{ID: "deploy-1", Status: release.StatusInProgress, StartedAt: clk.now,
		Attributes: map[string]string{release.AttrServiceName: "checkout", release.AttrServiceNamespace: "shop",
			release.AttrServiceVersion: "v1.4.2", release.AttrDeploymentEnvironment: "production"},
		Release: release.Context{PreviousVersion: "v1.4.1"}})
	other := func(n string) ArmKey {
		return ArmKey{Service: release.ServiceKey{Name: n, Environment: "production"}, Version: "1"}
	}
	// old and neu were seen before x, but they are under evaluation: x is
	// the one to go when y arrives.
	clk.now = clk.now.Add(time.Second)
	d.Arm(other("x"), "").RecordLogs(1, 0, clk.now)
	clk.now = clk.now.Add(time.Second)
	d.Arm(other("y"), "")
	st := d.Stats()
	require.Equal(t, Stats{Arms: 3, Evaluations: 1, ArmsEvicted: 1}, st)
	d.armsMu.RLock()
	_, hasOld := d.arms[old]
	_, hasNeu := d.arms[neu]
	_, hasX := d.arms[other("x")]
	d.armsMu.RUnlock()
	require.True(t, hasOld && hasNeu, "series under evaluation are never evicted")
	require.False(t, hasX)
}

// Old pods that drain for a few seconds after an all-at-once deploy, with no
// strategy said, make the comparison start concurrent; once they stop, it
// must move to the pre-deploy baseline and still decide.
func TestDrainingControlMovesToTheBaseline(t *testing.T) {
	out := runScenario(t, 11, scenario{
		beforeSeconds: 300, afterSeconds: 240, controlSeconds: 5,
		before:  version{rps: 60, errorRate: 0.01, latency: 50 * time.Millisecond},
		control: version{rps: 30, errorRate: 0.01, latency: 50 * time.Millisecond},
		cand:    version{rps: 60, errorRate: 0.06, latency: 50 * time.Millisecond},
		others:  version{rps: 100, errorRate: 0.01, latency: 20 * time.Millisecond},
	})
	d, ok := out.first(release.ActionRollback)
	if !ok || d.Cause != release.CauseEndogenous {
		t.Fatalf("want an endogenous rollback, got %+v", out.decisions)
	}
	if !strings.Contains(d.Rationale, "stopped serving") || !strings.Contains(d.Rationale, "before the deploy") {
		t.Fatalf("rationale %q does not say the comparison moved to the baseline", d.Rationale)
	}
	t.Logf("decided in %s: %s", d.DecidedAt.Sub(out.deployAt), d.Rationale)
}

// A clean progressive rollout reaches 100%: the control stops, and the
// release must still end healthy, not inconclusive until a hold.
func TestProgressiveHealthyRolloutEndsHealthy(t *testing.T) {
	out := runScenario(t, 12, scenario{
		beforeSeconds: 300, afterSeconds: 600, controlSeconds: 90,
		before:  version{rps: 60, errorRate: 0.01, latency: 50 * time.Millisecond},
		control: version{rps: 40, errorRate: 0.01, latency: 50 * time.Millisecond},
		cand:    version{rps: 60, errorRate: 0.01, latency: 50 * time.Millisecond},
		others:  version{rps: 100, errorRate: 0.01, latency: 20 * time.Millisecond},
	})
	for _, d := range out.decisions {
		if d.Action != release.ActionNone {
			t.Fatalf("a healthy rollout drew %s: %s", d.Action, d.Rationale)
		}
	}
	if len(out.decisions) == 0 || out.decisions[0].Verdict != release.VerdictHealthy {
		t.Fatalf("want a healthy verdict, got %+v", out.decisions)
	}
	t.Logf("healthy after %s: %s", out.decisions[0].DecidedAt.Sub(out.deployAt), out.decisions[0].Rationale)
}

// A service alone in its environment: no outside evidence either way. Steady
// before the deploy and failing on its own after it, the release is at fault,
// whether or not unrelated services send telemetry.
func TestLoneServiceRegressionIsEndogenous(t *testing.T) {
	out := runScenario(t, 13, scenario{
		strategy: release.StrategyAllAtOnce, beforeSeconds: 300, afterSeconds: 180,
		before: version{rps: 20, errorRate: 0.01, latency: 50 * time.Millisecond},
		cand:   version{rps: 20, errorRate: 0.06, latency: 50 * time.Millisecond},
	})
	d, ok := out.first(release.ActionRollback)
	if !ok || d.Cause != release.CauseEndogenous {
		t.Fatalf("want an endogenous rollback, got %+v", out.decisions)
	}
	if !strings.Contains(d.Rationale, "no other service in the environment") {
		t.Fatalf("rationale %q does not say what evidence was missing", d.Rationale)
	}
}

// A service already degrading before the deploy, alone: the cause cannot be
// told, and the rationale says why.
func TestLoneServiceAlreadyDegradingIsUnknown(t *testing.T) {
	out := runScenario(t, 14, scenario{
		strategy: release.StrategyAllAtOnce, beforeSeconds: 480, afterSeconds: 180,
		before: version{rps: 40, errorRate: 0.01, latency: 50 * time.Millisecond},
		cand:   version{rps: 40, errorRate: 0.08, latency: 50 * time.Millisecond},
	}.degradingBefore(version{rps: 40, errorRate: 0.05, latency: 50 * time.Millisecond}, 120))
	for _, d := range out.decisions {
		if d.Action == release.ActionRollback {
			t.Fatalf("rolled back a service that was failing before the deploy: %s", d.Rationale)
		}
	}
	d, ok := out.first(release.ActionNotify)
	if !ok || d.Cause != release.CauseUnknown || !strings.Contains(d.Rationale, "already degrading") {
		t.Fatalf("want an unknown-cause notification, got %+v", out.decisions)
	}
}

// The deploy event names a previous version never seen serving, while
// another one is: that one is the control, and the rationale says so.
func TestControlIsTheVersionSeenServing(t *testing.T) {
	out := runScenario(t, 15, scenario{
		strategy: release.StrategyCanary, beforeSeconds: 120, afterSeconds: 120, previousVersion: "v1.3.9",
		before:  version{rps: 200, errorRate: 0.01, latency: 50 * time.Millisecond},
		control: version{rps: 180, errorRate: 0.01, latency: 50 * time.Millisecond},
		cand:    version{rps: 20, errorRate: 0.06, latency: 50 * time.Millisecond},
		others:  version{rps: 100, errorRate: 0.01, latency: 20 * time.Millisecond},
	})
	d, ok := out.first(release.ActionRollback)
	if !ok {
		t.Fatalf("no rollback: %+v", out.decisions)
	}
	if d.Release["previous_version"] != "1.4.1" || !strings.Contains(d.Rationale, "v1.3.9, named as the previous version, was not seen serving") {
		t.Fatalf("control not explained: %+v %q", d.Release, d.Rationale)
	}
}
