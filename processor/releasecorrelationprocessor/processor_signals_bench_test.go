package releasecorrelationprocessor

import (
	"context"
	"fmt"
	"runtime"
	"testing"

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

	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/detect"
)

// benchResourceAttrs describes resource r of the realistic mix (benchMix).
func benchResourceAttrs(attrs pcommon.Map, r int) {
	res := benchMix[r%len(benchMix)]
	attrs.PutStr("service.name", res.service)
	attrs.PutStr("service.namespace", "shop")
	attrs.PutStr("deployment.environment.name", "production")
	attrs.PutStr("k8s.pod.name", fmt.Sprintf("%s-7d9f8b6c%d-x2k4p", res.service, r))
	attrs.PutStr("k8s.namespace.name", "shop")
	attrs.PutStr("host.name", "node-1")
	if res.version != "" {
		attrs.PutStr("service.version", res.version)
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
	h := benchStore(b)
	cfg := createDefaultConfig().(*Config)
	cfg.Attributes.Logs = stampedAttributes
	cfg.Attributes.Metrics = stampedAttributes
	cfg.Detection.Enabled = detection
	cfg.Detection.KPIs = []detect.KPIConfig{{Name: "m0", Metric: "app.metric.0", Bad: "lower"}}
	return cfg, h
}

func perItem(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchResources*benchSpansPerResource), "ns/item")
}

// fresh hands out a fresh copy of a template batch per operation, so that
// nothing an earlier operation stamped is found in place. Copies are made in
// chunks with the timer stopped, and their garbage collected there too.
type fresh[T any] struct {
	b        *testing.B
	template T
	copyOf   func(T) T
	chunk    []T
	i        int
}

func newFresh[T any](b *testing.B, template T, copyOf func(T) T) *fresh[T] {
	return &fresh[T]{b: b, template: template, copyOf: copyOf, chunk: make([]T, 512)}
}

func (f *fresh[T]) next() T {
	if f.i%len(f.chunk) == 0 {
		f.b.StopTimer()
		for j := range f.chunk {
			f.chunk[j] = f.copyOf(f.template)
		}
		runtime.GC()
		f.b.StartTimer()
	}
	t := f.chunk[f.i%len(f.chunk)]
	f.i++
	return t
}

// benchSignal runs one signal's benchmark: the stock resource processor
// upserting 7 attributes, then this processor stamping the same 7, with and
// without detection, in one run, each operation on a fresh batch. create
// builds a processor from a factory and config; consume sends a batch.
func benchSignal[P component.Component, T any](b *testing.B, template T, copyOf func(T) T,
	create func(f processor.Factory, cfg component.Config) (P, error), consume func(P, T) error) {
	ctx := context.Background()
	b.Run("resourceprocessor_upsert_7", func(b *testing.B) {
		f := resourceprocessor.NewFactory()
		p, err := create(f, resourceProcessorConfig(b, f))
		require.NoError(b, err)
		batches := newFresh(b, template, copyOf)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_ = consume(p, batches.next())
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
			batches := newFresh(b, template, copyOf)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_ = consume(p, batches.next())
			}
			perItem(b)
		})
	}
}

// BenchmarkConsumeLogs: 10 resources x 100 log records.
func BenchmarkConsumeLogs(b *testing.B) {
	ctx := context.Background()
	benchSignal(b, benchLogs(), func(ld plog.Logs) plog.Logs {
		out := plog.NewLogs()
		ld.CopyTo(out)
		return out
	}, func(f processor.Factory, cfg component.Config) (processor.Logs, error) {
		return f.CreateLogs(ctx, processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	}, func(p processor.Logs, ld plog.Logs) error { return p.ConsumeLogs(ctx, ld) })
}

// BenchmarkConsumeMetrics: 10 resources x 100 data points; with detection,
// one of the metrics is a KPI.
func BenchmarkConsumeMetrics(b *testing.B) {
	ctx := context.Background()
	benchSignal(b, benchMetrics(), func(md pmetric.Metrics) pmetric.Metrics {
		out := pmetric.NewMetrics()
		md.CopyTo(out)
		return out
	}, func(f processor.Factory, cfg component.Config) (processor.Metrics, error) {
		return f.CreateMetrics(ctx, processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	}, func(p processor.Metrics, md pmetric.Metrics) error { return p.ConsumeMetrics(ctx, md) })
}
