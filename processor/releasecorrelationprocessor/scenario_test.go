package releasecorrelationprocessor

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/detect"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/scenario"
)

const corpusPath = "testdata/scenarios/corpus.jsonl"

func TestScenarioCorpusIsCurrent(t *testing.T) {
	want, err := scenario.Encode(scenario.Generate())
	require.NoError(t, err)
	got, err := os.ReadFile(corpusPath)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "the corpus differs from its generator; run `make generate`")
}

// scenarioResult is what the processor concluded about one scenario.
type scenarioResult struct {
	s scenario.Scenario
	// first decision of each action, and the time to it from the deploy.
	actions map[release.Action]time.Duration
	verdict release.Verdict
	causes  map[release.Cause]bool
	// signal and cause of the first regression decision.
	signal string
	cause  release.Cause
	// healthy: a healthy verdict was published.
	healthy   bool
	decisions []*release.Decision
	deploy    time.Time
}

func (r scenarioResult) regressionAt() (time.Duration, bool) {
	best, ok := time.Duration(0), false
	for _, a := range []release.Action{release.ActionNotify, release.ActionPause, release.ActionFlagOff, release.ActionRollback} {
		if d, has := r.actions[a]; has && (!ok || d < best) {
			best, ok = d, true
		}
	}
	return best, ok
}

// prefixSeconds is how long after the deploy a regression scenario is first
// recorded; see runScenario.
const prefixSeconds = 150

// runScenario records one scenario (its deploy events and every second of
// its telemetry) and replays the recording through the processor with
// Replay: the same path as `otelcol-release replay`.
//
// A regression scenario stops at its rollback, so it is first recorded only
// up to prefixSeconds after the deploy: detection is causal (a decision at
// time t depends on nothing after t), so a rollback decided by the end of
// that prefix is exactly what the whole recording gives, and the rest need
// not be simulated. Otherwise the whole scenario is replayed.
func runScenario(t testing.TB, s scenario.Scenario) scenarioResult {
	if s.Label == scenario.LabelRegression {
		if horizon := s.BeforeSeconds + prefixSeconds; horizon < s.BeforeSeconds+s.AfterSeconds {
			if res, last := replayScenario(t, s, horizon); res.rollbackBy(last) {
				return res
			}
		}
	}
	res, _ := replayScenario(t, s, s.BeforeSeconds+s.AfterSeconds)
	return res
}

// rollbackBy: a rollback was decided no later than last.
func (r scenarioResult) rollbackBy(last time.Time) bool {
	d, ok := r.actions[release.ActionRollback]
	return ok && !r.deploy.Add(d).After(last)
}

// replayScenario replays the first seconds of a scenario and returns what
// was decided, and the time of the last second recorded.
func replayScenario(t testing.TB, s scenario.Scenario, seconds int) (scenarioResult, time.Time) {
	cfg := createDefaultConfig().(*Config)
	cfg.Detection.KPIs = []detect.KPIConfig{{Name: "orders", Metric: "orders.completed", Bad: "lower"}}
	sim := scenario.NewSim(s)
	last := scenario.Start.Add(time.Duration(seconds-1) * time.Second)
	// The deploy events as the receiver stores them: normalised through the
	// default gates (environment aliases, strategy spellings).
	var in ReplayInput
	gates := release.Gates{EnvironmentAliases: release.DefaultEnvironmentAliases()}
	for _, e := range sim.Events() {
		if e.Time.After(last) {
			continue
		}
		require.NoError(t, gates.Normalize(&e))
		in.Events = append(in.Events, e)
	}
	for sec := 0; sec < seconds; sec++ {
		td, ld, md, _ := sim.Step()
		in.Traces = append(in.Traces, td)
		in.Logs = append(in.Logs, ld)
		in.Metrics = append(in.Metrics, md)
	}
	if s.Label == scenario.LabelRegression {
		in.StopWhen = func(d *release.Decision) bool { return d.Action == release.ActionRollback }
	}
	out, err := Replay(context.Background(), cfg, in)
	require.NoError(t, err)
	res := scenarioResult{s: s, actions: map[release.Action]time.Duration{}, causes: map[release.Cause]bool{}, deploy: sim.DeployTime()}
	for _, d := range out.Decisions {
		if d.ReleaseID() != scenario.DeploymentID {
			t.Errorf("a decision about %s, which did not roll out: %s", d.ReleaseID(), d.Rationale)
			continue
		}
		if _, seen := res.actions[d.Action]; !seen {
			res.actions[d.Action] = d.DecidedAt.Sub(sim.DeployTime())
		}
		res.causes[d.Cause] = true
		res.verdict = d.Verdict
		res.decisions = append(res.decisions, d)
		if d.Verdict == release.VerdictHealthy {
			res.healthy = true
		}
		if d.Verdict == release.VerdictRegression && res.signal == "" && len(d.Evidence) > 0 {
			res.signal, res.cause = d.Evidence[0].Signal, d.Cause
		}
	}
	return res, last
}

// classRow is one line of the results table.
type classRow struct {
	class, label                         string
	n, detected, rollbacks, otherActions int
	holds, healthy                       int
	ttd                                  []time.Duration
	// signals and causes of the first regression decisions.
	signals, causes map[string]int
}

// mostly renders the most frequent value of a count: "error_rate" when all
// agree, else "error_rate (17 of 20)".
func mostly(counts map[string]int) string {
	best, total := "", 0
	for k, n := range counts {
		total += n
		if best == "" || n > counts[best] || n == counts[best] && k < best {
			best = k
		}
	}
	switch {
	case total == 0:
		return "-"
	case counts[best] == total:
		return best
	default:
		return fmt.Sprintf("%s (%d of %d)", best, counts[best], total)
	}
}

// knownGaps are classes on which the detector, as it stands, misses a goal
// the test states; they are marked in the table and their goals are
// reported, not enforced, until the detector closes them. No gap may excuse
// a false rollback.
var knownGaps = map[string]string{}

func (r classRow) median() time.Duration {
	if len(r.ttd) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.ttd...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func (r classRow) worst() time.Duration {
	var w time.Duration
	for _, d := range r.ttd {
		w = max(w, d)
	}
	return w
}

// TestScenarioCorpus runs every labelled scenario through the processor in
// simulated time and prints, per class, the detection rate, false actions
// and time to decision. It fails on any false rollback and on the goals of
// the issue. `go test -run TestScenarioCorpus -v` shows the table.
func TestScenarioCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 900 simulated deploys; skipped under -short")
	}
	corpus, err := scenario.Load(corpusPath)
	require.NoError(t, err)

	results := make([]scenarioResult, len(corpus))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = runScenario(t, corpus[i])
			}
		}()
	}
	for i := range corpus {
		next <- i
	}
	close(next)
	wg.Wait()

	rows := map[string]*classRow{}
	var order []string
	for _, r := range results {
		row, ok := rows[r.s.Class]
		if !ok {
			row = &classRow{class: r.s.Class, label: r.s.Label, signals: map[string]int{}, causes: map[string]int{}}
			rows[r.s.Class] = row
			order = append(order, r.s.Class)
		}
		row.n++
		at, regressed := r.regressionAt()
		if regressed {
			row.detected++
			row.ttd = append(row.ttd, at)
		}
		if _, ok := r.actions[release.ActionRollback]; ok {
			row.rollbacks++
		}
		if _, ok := r.actions[release.ActionHold]; ok {
			row.holds++
		}
		if r.healthy {
			row.healthy++
		}
		if r.signal != "" {
			row.signals[r.signal]++
			row.causes[string(r.cause)]++
		}
		if regressed {
			if _, ok := r.actions[release.ActionRollback]; !ok {
				row.otherActions++
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n| class | label | scenarios | detected | rollbacks | notify only | holds | healthy verdicts | median time to decision | worst | first signal | cause |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	nullScenarios, falseRollbacks := 0, 0
	for _, c := range order {
		r := rows[c]
		ttd := "-"
		worst := "-"
		if len(r.ttd) > 0 {
			ttd, worst = r.median().String(), r.worst().String()
		}
		name := r.class
		if _, gap := knownGaps[c]; gap {
			name += " (known gap)"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d (%.0f%%) | %d | %d | %d | %d | %s | %s | %s | %s |\n", name, r.label, r.n, r.detected,
			100*float64(r.detected)/float64(r.n), r.rollbacks, r.otherActions, r.holds, r.healthy, ttd, worst, mostly(r.signals), mostly(r.causes))
		if r.label == scenario.LabelHealthy || r.label == scenario.LabelExogenous {
			nullScenarios += r.n
			falseRollbacks += r.rollbacks
		}
	}
	t.Log(b.String())

	require.GreaterOrEqual(t, nullScenarios, 200, "the corpus holds at least 200 healthy and exogenous scenarios")
	for _, r := range results {
		if _, ok := r.actions[release.ActionRollback]; ok && r.s.Label != scenario.LabelRegression {
			t.Errorf("false rollback: %s (seed %d)", r.s.ID, r.s.Seed)
		}
	}
	require.Zero(t, falseRollbacks, "no false rollback across %d healthy and exogenous scenarios", nullScenarios)

	// goal checks one class's goal; a known gap is reported, not enforced.
	missed := map[string]bool{}
	goal := func(class string, ok bool, format string, args ...any) {
		t.Helper()
		if ok {
			return
		}
		missed[class] = true
		msg := class + ": " + fmt.Sprintf(format, args...)
		if why, gap := knownGaps[class]; gap {
			t.Logf("known detector gap, %s (%s)", msg, why)
			return
		}
		t.Error(msg)
	}
	rate := func(n, of int) float64 { return float64(n) / float64(of) }
	// Regressions are detected: the reference classes, and every topology
	// of a first contact.
	for _, c := range []string{"errors_1_to_2pct", "latency_p95_plus_30pct", "kpi_drop", "metrics_only_errors",
		"errors_no_previous_version", "alias_errors", "multipod_cumulative_errors", "multipod_delta_errors",
		"draining_errors", "no_version_learned_errors", "no_version_all_at_once_errors", "lone_errors", "tail_p99_x3"} {
		r := rows[c]
		goal(c, rate(r.detected, r.n) >= 0.95, "%d of %d detected", r.detected, r.n)
	}
	require.Lessf(t, rows["errors_1_to_5pct"].median(), 30*time.Second, "median time to decision for 1%% -> 5%% errors")
	lt := rows["low_traffic"]
	require.Zerof(t, lt.detected, "low traffic must hold, never guess: %d regressions", lt.detected)
	require.Equalf(t, lt.n, lt.holds, "low traffic: %d of %d held", lt.holds, lt.n)
	// A service alone in its environment is rolled back on its own
	// evidence: its pre-deploy baseline and its dependencies.
	lone := rows["lone_errors"]
	goal("lone_errors", rate(lone.rollbacks, lone.n) >= 0.95, "%d of %d rolled back (causes %v)", lone.rollbacks, lone.n, lone.causes)
	// A tail regression is a latency regression.
	tail := rows["tail_p99_x3"]
	latency := 0
	for sig, n := range tail.signals {
		if strings.HasPrefix(sig, "latency_") {
			latency += n
		}
	}
	goal("tail_p99_x3", latency == tail.detected, "%d of %d detections name a latency signal (%v)", latency, tail.detected, tail.signals)
	// A clean progressive rollout draws no action and ends healthy.
	pr := rows["progressive_healthy"]
	goal("progressive_healthy", pr.detected == 0 && pr.holds == 0, "%d notified, %d held", pr.detected, pr.holds)
	goal("progressive_healthy", rate(pr.healthy, pr.n) >= 0.95, "%d of %d ended healthy", pr.healthy, pr.n)
	for c := range knownGaps {
		if rows[c] == nil {
			t.Errorf("known gap %s names no class of the corpus", c)
		} else if !missed[c] {
			t.Errorf("%s meets its goals now: remove it from knownGaps so that they are enforced", c)
		}
	}
}
