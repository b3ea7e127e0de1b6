package scenario

import (
	"math"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// TestTailRegressionMovesP95NotTheMedian checks the simulator does what the
// latency classes claim: +30% on p95, the median unchanged.
func TestTailRegressionMovesP95NotTheMedian(t *testing.T) {
	quantiles := func(tr Traffic) (p50, p95 float64) {
		sim := NewSim(Scenario{ID: "q", Seed: 1})
		xs := make([]float64, 200000)
		for i := range xs {
			xs[i] = sim.latency(tr)
		}
		sort.Float64s(xs)
		return xs[len(xs)/2], xs[len(xs)*95/100]
	}
	base := Traffic{LatencyMs: 100, LatencySigma: 0.4}
	slow := base
	slow.TailShare, slow.TailFactor = 0.1, 1.3
	b50, b95 := quantiles(base)
	s50, s95 := quantiles(slow)
	if math.Abs(s50/b50-1) > 0.02 {
		t.Fatalf("median moved: %.1f -> %.1f", b50, s50)
	}
	if r := s95 / b95; r < 1.27 || r > 1.33 {
		t.Fatalf("p95 moved by %.2fx, want 1.3x", r)
	}
}

func TestCorpusIsLabelledAndLoadable(t *testing.T) {
	data, err := Encode(Generate())
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, s := range Generate() {
		counts[s.Label]++
	}
	if counts[LabelHealthy]+counts[LabelExogenous] < 200 {
		t.Fatalf("only %d healthy and exogenous scenarios", counts[LabelHealthy]+counts[LabelExogenous])
	}
	if len(data) == 0 || counts[LabelRegression] == 0 || counts[LabelHold] == 0 {
		t.Fatalf("labels: %v", counts)
	}
}

// TestTailOnlyRegressionMovesP99 checks the tail class: the slowest 5% of
// requests 3x slower moves p99 by 3x and leaves the median alone.
func TestTailOnlyRegressionMovesP99(t *testing.T) {
	quantile := func(tr Traffic, q float64) float64 {
		sim := NewSim(Scenario{ID: "q", Seed: 1})
		xs := make([]float64, 200000)
		for i := range xs {
			xs[i] = sim.latency(tr)
		}
		sort.Float64s(xs)
		return xs[int(float64(len(xs))*q)]
	}
	base := Traffic{LatencyMs: 100, LatencySigma: 0.4}
	slow := base
	slow.TailShare, slow.TailFactor = 0.05, 3
	if r := quantile(slow, 0.5) / quantile(base, 0.5); math.Abs(r-1) > 0.02 {
		t.Fatalf("median moved by %.2fx", r)
	}
	if r := quantile(slow, 0.99) / quantile(base, 0.99); r < 2.9 || r > 3.1 {
		t.Fatalf("p99 moved by %.2fx, want 3x", r)
	}
}

// run steps a scenario through and calls f with each second's telemetry.
func run(s Scenario, f func(sec int, td ptrace.Traces, ld plog.Logs, md pmetric.Metrics)) {
	sim := NewSim(s)
	for sec := 0; sec < sim.Seconds(); sec++ {
		td, ld, md, _ := sim.Step()
		f(sec, td, ld, md)
	}
}

func str(m pcommon.Map, k string) string {
	v, _ := m.Get(k)
	return v.AsString()
}

func findClass(t *testing.T, class string) Scenario {
	for _, s := range Generate() {
		if s.Class == class {
			return s
		}
	}
	t.Fatalf("no class %s", class)
	return Scenario{}
}

// TestEventsSeedNothing: a run has only its own deploy events.
func TestEventsSeedNothing(t *testing.T) {
	for _, s := range Generate() {
		for _, e := range NewSim(s).Events() {
			if e.ID != DeploymentID || e.Attr(release.AttrServiceVersion) != NewVersion || e.Type == release.EventSucceeded {
				t.Fatalf("%s: event %s %s of %s seeds what a user would not have", s.ID, e.ID, e.Type, e.Attr(release.AttrServiceVersion))
			}
		}
	}
}

// TestMultiPodExports: three pods per version, each with its own
// service.instance.id, exporting every 10-60 s at its own phase; cumulative
// points never decrease, delta points add up to the requests.
func TestMultiPodExports(t *testing.T) {
	for _, class := range []string{"multipod_cumulative_errors", "multipod_delta_errors"} {
		s := findClass(t, class)
		type stream struct {
			last  uint64
			times []int
		}
		streams := map[string]*stream{}
		pods := map[string]map[string]bool{}
		run(s, func(sec int, td ptrace.Traces, _ plog.Logs, md pmetric.Metrics) {
			if td.SpanCount() != 0 && str(td.ResourceSpans().At(0).Resource().Attributes(), "service.name") == Service {
				t.Fatalf("%s: a metrics-only service sent spans", class)
			}
			for i := 0; i < md.ResourceMetrics().Len(); i++ {
				rm := md.ResourceMetrics().At(i)
				attrs := rm.Resource().Attributes()
				if str(attrs, "service.name") != Service {
					continue
				}
				v, id := str(attrs, "service.version"), str(attrs, "service.instance.id")
				if pods[v] == nil {
					pods[v] = map[string]bool{}
				}
				pods[v][id] = true
				h := rm.ScopeMetrics().At(0).Metrics().At(0).Histogram()
				for j := 0; j < h.DataPoints().Len(); j++ {
					dp := h.DataPoints().At(j)
					key := id + str(dp.Attributes(), "http.response.status_code")
					st := streams[key]
					if st == nil {
						st = &stream{}
						streams[key] = st
					}
					if h.AggregationTemporality() == pmetric.AggregationTemporalityCumulative && dp.Count() < st.last {
						t.Fatalf("%s: cumulative count went down", class)
					}
					st.last = dp.Count()
					st.times = append(st.times, sec)
				}
			}
		})
		if len(pods[PreviousVersion]) != 3 || len(pods[NewVersion]) != 3 {
			t.Fatalf("%s: pods %v", class, pods)
		}
		for key, st := range streams {
			if len(st.times) < 3 {
				continue
			}
			gap := st.times[1] - st.times[0]
			if gap < 10 || gap > 60 {
				t.Fatalf("%s: stream %s exports every %d s", class, key, gap)
			}
		}
	}
}

// TestUnversionedPods: spans carry k8s.pod.name and k8s.deployment.name,
// no service.version; pods are named after their version's ReplicaSet; the
// logs of the learned variant carry the version.
func TestUnversionedPods(t *testing.T) {
	s := findClass(t, "no_version_learned_errors")
	versionedLogs := 0
	run(s, func(_ int, td ptrace.Traces, ld plog.Logs, _ pmetric.Metrics) {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			attrs := td.ResourceSpans().At(i).Resource().Attributes()
			if str(attrs, "service.name") != Service {
				continue
			}
			pod := str(attrs, "k8s.pod.name")
			if _, has := attrs.Get("service.version"); has || str(attrs, "k8s.deployment.name") != Service || len(pod) != len("checkout-7d9f8b6c5-x2k4p") {
				t.Fatalf("span resource %v", attrs.AsRaw())
			}
		}
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			attrs := ld.ResourceLogs().At(i).Resource().Attributes()
			if str(attrs, "service.name") == Service && str(attrs, "k8s.pod.name") != "" {
				if v := str(attrs, "service.version"); !strings.HasPrefix(str(attrs, "k8s.pod.name"), replicaSets[v]+"-") {
					t.Fatalf("pod %s runs %s", str(attrs, "k8s.pod.name"), v)
				}
				versionedLogs++
			}
		}
	})
	if versionedLogs == 0 {
		t.Fatal("no versioned logs")
	}
}

// TestTopologies: aliases on telemetry, draining, lone services and
// progressive rollouts behave as their classes say.
func TestTopologies(t *testing.T) {
	// versionsAt returns, per second, the versions of checkout that sent
	// spans, and the environments and services seen.
	versionsAt := func(s Scenario) (map[int]map[string]bool, map[string]bool, map[string]bool) {
		per, envs, services := map[int]map[string]bool{}, map[string]bool{}, map[string]bool{}
		run(s, func(sec int, td ptrace.Traces, _ plog.Logs, _ pmetric.Metrics) {
			per[sec] = map[string]bool{}
			for i := 0; i < td.ResourceSpans().Len(); i++ {
				attrs := td.ResourceSpans().At(i).Resource().Attributes()
				envs[str(attrs, "deployment.environment.name")] = true
				services[str(attrs, "service.name")] = true
				if str(attrs, "service.name") == Service {
					per[sec][str(attrs, "service.version")] = true
				}
			}
		})
		return per, envs, services
	}

	alias := findClass(t, "alias_errors")
	_, envs, _ := versionsAt(alias)
	deploy := NewSim(alias).Deploy()
	if alias.TelemetryEnvironment == alias.EventEnvironment || !envs[alias.TelemetryEnvironment] || len(envs) != 1 ||
		deploy.Attr(release.AttrDeploymentEnvironment) != alias.EventEnvironment {
		t.Fatalf("alias: telemetry %v, event %s", envs, alias.EventEnvironment)
	}

	drain := findClass(t, "draining_errors")
	per, _, _ := versionsAt(drain)
	drained := false
	for sec := drain.BeforeSeconds; sec < drain.BeforeSeconds+60; sec++ {
		old := per[sec][PreviousVersion]
		if sec < drain.BeforeSeconds+drain.DrainSeconds {
			drained = drained || old
		} else if old {
			t.Fatalf("draining %d s: the old version sent at +%d s", drain.DrainSeconds, sec-drain.BeforeSeconds)
		}
	}
	if !drained || drain.DrainSeconds < 3 {
		t.Fatalf("the old version did not drain (%d s)", drain.DrainSeconds)
	}

	_, _, services := versionsAt(findClass(t, "lone_errors"))
	if len(services) != 1 || !services[Service] {
		t.Fatalf("lone: services %v", services)
	}

	prog := findClass(t, "progressive_healthy")
	events := NewSim(prog).Events()
	if len(events) != 3 || events[1].Type != release.EventProgressed || *events[2].Release.RolloutPercentage != 100 {
		t.Fatalf("progressive events %+v", events)
	}
	per, _, _ = versionsAt(prog)
	full := prog.BeforeSeconds + prog.Rollout[2].AfterSeconds
	if !per[full-1][PreviousVersion] || per[full][PreviousVersion] || per[full+100][PreviousVersion] || !per[full][NewVersion] {
		t.Fatalf("progressive: the old version must stop at 100%%")
	}
}
