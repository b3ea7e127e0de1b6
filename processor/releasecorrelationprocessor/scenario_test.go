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

// runScenario records one scenario (its deploy events and every second of
// its telemetry) and replays the recording through the processor with
// Replay: the same path as `otelcol-release replay`.
func runScenario(t testing.TB, s scenario.Scenario) scenarioResult {
	cfg := createDefaultConfig().(*Config)
	cfg.Detection.KPIs = []detect.KPIConfig{{Name: "orders", Metric: "orders.completed", Bad: "lower"}}
	sim := scenario.NewSim(s)
	in := ReplayInput{Events: append(sim.History(), sim.Deploy())}
	for sec := 0; sec < sim.Seconds(); sec++ {
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
	res := scenarioResult{s: s, actions: map[release.Action]time.Duration{}, causes: map[release.Cause]bool{}}
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
	}
	return res
}

// classRow is one line of the results table.
type classRow struct {
	class, label                         string
	n, detected, rollbacks, otherActions int
	holds                                int
	ttd                                  []time.Duration
}

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
		t.Skip("runs 500 simulated deploys; skipped under -short")
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
			row = &classRow{class: r.s.Class, label: r.s.Label}
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
		if regressed {
			if _, ok := r.actions[release.ActionRollback]; !ok {
				row.otherActions++
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n| class | label | scenarios | detected | rollbacks | notify only | holds | median time to decision | worst |\n|---|---|---|---|---|---|---|---|---|\n")
	nullScenarios, falseRollbacks := 0, 0
	for _, c := range order {
		r := rows[c]
		ttd := "-"
		worst := "-"
		if len(r.ttd) > 0 {
			ttd, worst = r.median().String(), r.worst().String()
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d (%.0f%%) | %d | %d | %d | %s | %s |\n", r.class, r.label, r.n, r.detected,
			100*float64(r.detected)/float64(r.n), r.rollbacks, r.otherActions, r.holds, ttd, worst)
		if r.label == scenario.LabelHealthy || r.label == scenario.LabelExogenous {
			nullScenarios += r.n
			falseRollbacks += r.rollbacks
		}
	}
	t.Log(b.String())

	require.GreaterOrEqual(t, nullScenarios, 200, "the corpus holds at least 200 healthy and exogenous scenarios")
	require.Zero(t, falseRollbacks, "no false rollback across %d healthy and exogenous scenarios", nullScenarios)
	for _, c := range []string{"errors_1_to_2pct", "latency_p95_plus_30pct", "kpi_drop", "metrics_only_errors"} {
		r := rows[c]
		require.GreaterOrEqualf(t, float64(r.detected)/float64(r.n), 0.95, "%s: %d of %d detected", c, r.detected, r.n)
	}
	require.Lessf(t, rows["errors_1_to_5pct"].median(), 30*time.Second, "median time to decision for 1%% -> 5%% errors")
	lt := rows["low_traffic"]
	require.Zerof(t, lt.detected, "low traffic must hold, never guess: %d regressions", lt.detected)
	require.Equalf(t, lt.n, lt.holds, "low traffic: %d of %d held", lt.holds, lt.n)
}
