package releasecorrelationprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

// BenchmarkMemoryPerKey measures the heap that one tracked key costs with
// detection on: its releases in the store (a stable version and a canary,
// each with a few events) and the detector's series for both versions after
// they have seen traffic (latency histograms, baseline slots, a dependency).
// Run with -benchtime=1x; it reports bytes per key and the total for 10,000.
func BenchmarkMemoryPerKey(b *testing.B) {
	const keys = 10000
	for i := 0; i < b.N; i++ {
		before := testhost.LiveHeap()
		st, h := startStore(b)
		for k := 0; k < keys; k++ {
			svc := fmt.Sprintf("svc-%05d", k)
			v1 := event("s-"+svc, release.EventSucceeded, "v1", 0, release.Context{})
			v1.Attributes[release.AttrServiceName] = svc
			pct := 10.0
			v2 := event("c-"+svc, release.EventStarted, "v2", time.Minute, release.Context{Strategy: release.StrategyCanary, RolloutPercentage: &pct, Owner: "team"})
			v2.Attributes[release.AttrServiceName] = svc
			record(b, st, v1, v2)
		}
		cfg := createDefaultConfig().(*Config)
		p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(Type), cfg, consumertest.NewNop())
		require.NoError(b, err)
		require.NoError(b, p.Start(context.Background(), h))
		// One batch per key and version, spans with latencies spread over
		// the histogram, and a client call.
		for k := 0; k < keys; k++ {
			for _, v := range []string{"v1", "v2"} {
				td := ptrace.NewTraces()
				rs := td.ResourceSpans().AppendEmpty()
				require.NoError(b, rs.Resource().Attributes().FromRaw(map[string]any{
					"service.name": fmt.Sprintf("svc-%05d", k), "service.namespace": "shop",
					"deployment.environment.name": "production", "service.version": v,
				}))
				spans := rs.ScopeSpans().AppendEmpty().Spans()
				for s := 0; s < 20; s++ {
					sp := spans.AppendEmpty()
					sp.SetKind(ptrace.SpanKindServer)
					sp.SetStartTimestamp(1)
					sp.SetEndTimestamp(1 + 1000*(1<<(s%20)))
				}
				c := spans.AppendEmpty()
				c.SetKind(ptrace.SpanKindClient)
				c.Attributes().PutStr("peer.service", "payments")
				require.NoError(b, p.ConsumeTraces(context.Background(), td))
			}
		}
		after := testhost.LiveHeap()
		b.ReportMetric(float64(after-before)/keys, "bytes/key")
		b.ReportMetric(float64(after-before)/(1<<20), "MiB/10k-keys")
		require.NoError(b, p.Shutdown(context.Background()))
	}
}
