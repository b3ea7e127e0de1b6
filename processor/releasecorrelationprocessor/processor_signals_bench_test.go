package releasecorrelationprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourceprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/detect"
)

func benchResourceAttrs(attrs pcommon.Map, r int) {
	attrs.PutStr("service.name", "checkout")
	attrs.PutStr("service.namespace", "shop")
	attrs.PutStr("deployment.environment.name", "production")
	attrs.PutStr("k8s.pod.name", fmt.Sprintf("checkout-%d", r))
	attrs.PutStr("k8s.namespace.name", "shop")
	attrs.PutStr("host.name", "node-1")
	if r%2 == 0 {
		attrs.PutStr("service.version", "v1.4.2")
	} else {
		attrs.PutStr("service.version", "v1.4.1")
	}
}

// benchLogs: 10 resources x 100 log records, 2% of them errors.
func benchLogs() plog.Logs {
	ld := plog.NewLogs()
	for r := 0; r < benchResources; r++ {
		rl := ld.ResourceLogs().AppendEmpty()
		benchResourceAttrs(rl.Resource().Attributes(), r)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := 0; i < benchSpansPerResource; i++ {
			lr := lrs.AppendEmpty()
			lr.Body().SetStr("order placed")
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			if i%50 == 0 {
				lr.SetSeverityNumber(plog.SeverityNumberError)
			}
		}
	}
	return ld
}

// benchMetrics: 10 resources x 100 data points: 20 metrics of 5 points.
func benchMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := 0; r < benchResources; r++ {
		rm := md.ResourceMetrics().AppendEmpty()
		benchResourceAttrs(rm.Resource().Attributes(), r)
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		for m := 0; m < 20; m++ {
			metric := ms.AppendEmpty()
			metric.SetName(fmt.Sprintf("app.metric.%d", m))
			sum := metric.SetEmptySum()
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for p := 0; p < 5; p++ {
				dp := sum.DataPoints().AppendEmpty()
				dp.Attributes().PutStr("route", fmt.Sprintf("/r%d", p))
				dp.SetDoubleValue(float64(p))
			}
		}
	}
	return md
}

func resourceProcessorConfig(b *testing.B, f processor.Factory) component.Config {
	cfg := f.CreateDefaultConfig()
	var actions []any
	for _, a := range stampedAttributes {
		actions = append(actions, map[string]any{"key": a, "value": "x", "action": "upsert"})
	}
	require.NoError(b, confmap.NewFromStringMap(map[string]any{"attributes": actions}).Unmarshal(cfg))
	return cfg
}

func releaseConfig(b *testing.B, detection bool) (*Config, component.Host) {
	st, h := startStore(b)
	pct := 10.0
	record(b, st, event("d1", release.EventSucceeded, "v1.4.1", 0, release.Context{}))
	record(b, st, event("d2", release.EventStarted, "v1.4.2", time.Hour, release.Context{Strategy: release.StrategyCanary, RolloutPercentage: &pct, Owner: "team-payments"}))
	cfg := createDefaultConfig().(*Config)
	cfg.Overwrite = true
	cfg.Attributes.Logs = stampedAttributes
	cfg.Attributes.Metrics = stampedAttributes
	cfg.Detection.Enabled = detection
	cfg.Detection.KPIs = []detect.KPIConfig{{Name: "m0", Metric: "app.metric.0", Bad: "lower"}}
	return cfg, h
}

func perItem(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchResources*benchSpansPerResource), "ns/item")
}

// benchSignal runs one signal's benchmark: the stock resource processor
// upserting 7 attributes, then this processor stamping the same 7, with and
// without detection, in one run. create builds a processor from a factory
// and config; consume sends the batch.
func benchSignal[P component.Component](b *testing.B, create func(f processor.Factory, cfg component.Config) (P, error), consume func(P) error) {
	ctx := context.Background()
	b.Run("resourceprocessor_upsert_7", func(b *testing.B) {
		f := resourceprocessor.NewFactory()
		p, err := create(f, resourceProcessorConfig(b, f))
		require.NoError(b, err)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_ = consume(p)
		}
		perItem(b)
	})
	for _, detection := range []bool{false, true} {
		name := "releasecorrelation_stamp"
		if detection {
			name += "_and_detect"
		}
		b.Run(name, func(b *testing.B) {
			cfg, h := releaseConfig(b, detection)
			p, err := create(NewFactory(), cfg)
			require.NoError(b, err)
			require.NoError(b, p.Start(ctx, h))
			defer func() { require.NoError(b, p.Shutdown(ctx)) }()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_ = consume(p)
			}
			perItem(b)
		})
	}
}

// BenchmarkConsumeLogs: 10 resources x 100 log records.
func BenchmarkConsumeLogs(b *testing.B) {
	ctx := context.Background()
	ld := benchLogs()
	benchSignal(b, func(f processor.Factory, cfg component.Config) (processor.Logs, error) {
		return f.CreateLogs(ctx, processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	}, func(p processor.Logs) error { return p.ConsumeLogs(ctx, ld) })
}

// BenchmarkConsumeMetrics: 10 resources x 100 data points; with detection,
// one of the metrics is a KPI.
func BenchmarkConsumeMetrics(b *testing.B) {
	ctx := context.Background()
	md := benchMetrics()
	benchSignal(b, func(f processor.Factory, cfg component.Config) (processor.Metrics, error) {
		return f.CreateMetrics(ctx, processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	}, func(p processor.Metrics) error { return p.ConsumeMetrics(ctx, md) })
}
