package releasecorrelationprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourceprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const (
	benchResources        = 10
	benchSpansPerResource = 100
)

// benchTraces is a realistic batch: 10 resources (5 candidate, 5 control
// pods of one service) with 100 server spans each.
func benchTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	for r := 0; r < benchResources; r++ {
		rs := td.ResourceSpans().AppendEmpty()
		benchResourceAttrs(rs.Resource().Attributes(), r)
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for s := 0; s < benchSpansPerResource; s++ {
			sp := spans.AppendEmpty()
			sp.SetName("GET /cart")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(1)
			sp.SetEndTimestamp(2_000_001)
			sp.Attributes().PutInt("http.response.status_code", 200)
			sp.Attributes().PutStr("http.route", "/cart")
		}
	}
	return td
}

// stampedAttributes are what the processor writes on a candidate resource;
// the resource processor is configured to write the same number.
var stampedAttributes = []string{
	"deployment.id", "release.role", "vcs.ref.head.revision", "release.previous_version",
	"release.strategy", "release.rollout.percentage", "release.owner",
}

func runTracesBench(b *testing.B, p processor.Traces) {
	ctx := context.Background()
	td := benchTraces()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchResources*benchSpansPerResource), "ns/span")
}

// BenchmarkConsumeTraces compares, in one run, the stock resource processor
// upserting 7 attributes per resource with this processor stamping the same
// 7 (overwrite on, so every iteration writes as the first one does).
func BenchmarkConsumeTraces(b *testing.B) {
	b.Run("resourceprocessor_upsert_7", func(b *testing.B) {
		f := resourceprocessor.NewFactory()
		cfg := f.CreateDefaultConfig()
		var actions []any
		for _, a := range stampedAttributes {
			actions = append(actions, map[string]any{"key": a, "value": "x", "action": "upsert"})
		}
		require.NoError(b, confmap.NewFromStringMap(map[string]any{"attributes": actions}).Unmarshal(cfg))
		p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
		require.NoError(b, err)
		runTracesBench(b, p)
	})
	for _, detection := range []bool{false, true} {
		name := "releasecorrelation_stamp"
		if detection {
			name += "_and_detect"
		}
		b.Run(name, func(b *testing.B) {
			st, h := startStore(b)
			pct := 10.0
			record(b, st, event("d1", release.EventSucceeded, "v1.4.1", 0, release.Context{}))
			record(b, st, event("d2", release.EventStarted, "v1.4.2", time.Hour, release.Context{Strategy: release.StrategyCanary, RolloutPercentage: &pct, Owner: "team-payments"}))
			// Fill the store with other services so lookups are realistic.
			for i := 0; i < 1000; i++ {
				e := event(fmt.Sprintf("o%d", i), release.EventStarted, "v1", 0, release.Context{})
				e.Attributes[release.AttrServiceName] = fmt.Sprintf("svc-%d", i)
				record(b, st, e)
			}
			cfg := createDefaultConfig().(*Config)
			cfg.Overwrite = true
			cfg.Attributes.Traces = stampedAttributes
			cfg.Detection.Enabled = detection
			p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(Type), cfg, consumertest.NewNop())
			require.NoError(b, err)
			require.NoError(b, p.Start(context.Background(), h))
			defer func() { require.NoError(b, p.Shutdown(context.Background())) }()
			runTracesBench(b, p)
		})
	}
}
