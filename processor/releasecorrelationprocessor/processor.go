package releasecorrelationprocessor

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/stamp"
)

type correlationProcessor struct {
	cfg     *Config
	set     processor.Settings
	stamper *stamp.Stamper
	traces  []stamp.Field
	metrics []stamp.Field
	logs    []stamp.Field
}

func newProcessor(cfg *Config, set processor.Settings) *correlationProcessor {
	return &correlationProcessor{
		cfg: cfg, set: set,
		traces: fields(cfg.Attributes.Traces), metrics: fields(cfg.Attributes.Metrics), logs: fields(cfg.Attributes.Logs),
	}
}

func (p *correlationProcessor) start(_ context.Context, host component.Host) error {
	store, err := releasestoreextension.FindStore(host, p.cfg.Store)
	if err != nil {
		return fmt.Errorf("releasecorrelation: %w", err)
	}
	p.stamper = stamp.New(store.Service, p.cfg.Environment, p.cfg.Overwrite)
	return nil
}

func (p *correlationProcessor) processTraces(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		attrs := rss.At(i).Resource().Attributes()
		if m, ok := p.stamper.Match(attrs); ok {
			p.stamper.Apply(attrs, m, p.traces)
		}
	}
	return td, nil
}

func (p *correlationProcessor) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		attrs := rms.At(i).Resource().Attributes()
		if m, ok := p.stamper.Match(attrs); ok {
			p.stamper.Apply(attrs, m, p.metrics)
		}
	}
	return md, nil
}

func (p *correlationProcessor) processLogs(_ context.Context, ld plog.Logs) (plog.Logs, error) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		attrs := rls.At(i).Resource().Attributes()
		if m, ok := p.stamper.Match(attrs); ok {
			p.stamper.Apply(attrs, m, p.logs)
		}
	}
	return ld, nil
}
