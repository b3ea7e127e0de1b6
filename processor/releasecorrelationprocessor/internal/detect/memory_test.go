package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

// BenchmarkSteadyStateMemoryPerKey measures the detector's heap per key in
// the state a long-running collector is in, which a cold start does not
// show: each key's stable version has served for a whole baseline window
// (10 minutes, every 10 s slot filled, both latency generations held), and
// a canary of the key has been under evaluation for a minute. It reports
// the two apart, since at scale most keys are not under evaluation:
// steady-bytes/key is a key whose stable version serves and no release
// runs; eval-bytes/key is what an evaluation adds (the canary's series,
// the evaluation, the control's evaluation-only state); bytes/key is both.
// Spans carry log-normal latencies (sigma 0.6, and 1% of requests 8 times
// slower: the spread of a real service, which decides how many histogram
// buckets fill), 1% errors and, for a fifth, a client call. The detector's
// clock is simulated: one tick per second, each arm recording every 10 s.
func BenchmarkSteadyStateMemoryPerKey(b *testing.B) {
	const keys = 2000
	for range b.N {
		r := rand.New(rand.NewPCG(1, 2))
		clk := &fakeClock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
		before := testhost.LiveHeap()
		d := New(DefaultConfig(), clk, func(*release.Decision) {})
		cls := d.Classifier()
		key := func(k int, v string) ArmKey {
			return ArmKey{Service: release.ServiceKey{Name: fmt.Sprintf("svc-%05d", k), Namespace: "shop", Environment: "production"}, Version: v}
		}
		traffic := func(k int, v string) {
			d.Arm(key(k, v), "").RecordSpans(cls, pcommon.NewMap(), realisticSpans(r, 20, time.Duration(20+k%200)*time.Millisecond), clk.now)
		}
		window := int(d.cfg.BaselineWindow / time.Second)
		for s := 0; s <= window; s++ {
			for k := range keys {
				if (k+s)%10 == 0 {
					traffic(k, "v1")
				}
			}
			clk.now = clk.now.Add(time.Second)
			d.Tick()
		}
		steady := testhost.LiveHeap()
		for k := range keys {
			d.OnRelease(&release.Release{ID: fmt.Sprintf("deploy-%05d", k), Status: release.StatusInProgress, StartedAt: clk.now,
				Attributes: map[string]string{release.AttrServiceName: key(k, "").Service.Name, release.AttrServiceNamespace: "shop",
					release.AttrServiceVersion: "v2", release.AttrDeploymentEnvironment: "production"},
				Release: release.Context{PreviousVersion: "v1", Strategy: release.StrategyCanary}})
		}
		for s := range 60 {
			for k := range keys {
				if (k+s)%10 == 0 {
					traffic(k, "v1")
					traffic(k, "v2")
				}
			}
			clk.now = clk.now.Add(time.Second)
			d.Tick()
		}
		after := testhost.LiveHeap()
		st := d.Stats()
		if st.Evaluations != keys || st.Arms != 2*keys {
			b.Fatalf("%d evaluations and %d arms, want %d and %d", st.Evaluations, st.Arms, keys, 2*keys)
		}
		b.ReportMetric(float64(steady-before)/keys, "steady-bytes/key")
		b.ReportMetric((float64(after)-float64(steady))/keys, "eval-bytes/key")
		b.ReportMetric(float64(after-before)/keys, "bytes/key")
		runtime.KeepAlive(d)
		profiled = d
	}
}

// profiled keeps the last measured detector alive, so that the in-use view
// of -memprofile (written after the benchmark returns) shows what it holds.
var profiled *Detector

// realisticSpans is n server spans with log-normal latencies around median
// and a slow tail, 1% failing, a fifth with a client call.
func realisticSpans(r *rand.Rand, n int, median time.Duration) ptrace.ScopeSpansSlice {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans()
	spans := ss.AppendEmpty().Spans()
	for i := range n {
		sp := spans.AppendEmpty()
		sp.SetKind(ptrace.SpanKindServer)
		d := float64(median) * math.Exp(0.6*r.NormFloat64())
		if r.Float64() < 0.01 {
			d *= 8
		}
		sp.SetStartTimestamp(1)
		sp.SetEndTimestamp(pcommon.Timestamp(1 + int64(d)))
		code := int64(200)
		if r.Float64() < 0.01 {
			code = 503
		}
		sp.Attributes().PutInt("http.response.status_code", code)
		if i%5 == 0 {
			c := spans.AppendEmpty()
			c.SetKind(ptrace.SpanKindClient)
			c.Attributes().PutStr("peer.service", "payments")
		}
	}
	return ss
}
