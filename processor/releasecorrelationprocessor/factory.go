package releasecorrelationprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/detect"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/metadata"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/stamp"
)

// Type is the component type of the processor.
var Type = metadata.Type

// capabilities: the processor changes resource attributes in place.
var capabilities = consumer.Capabilities{MutatesData: true}

// NewFactory returns the correlation processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(Type, createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability),
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
		processor.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Attributes: AttributesConfig{
			Traces:  names(stamp.AllFields),
			Metrics: names(stamp.MetricFields),
			Logs:    names(stamp.AllFields),
		},
		Detection: detect.DefaultConfig(),
	}
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p := newProcessor(cfg.(*Config), set)
	return processorhelper.NewTraces(ctx, set, cfg, next, p.processTraces,
		processorhelper.WithStart(p.start), processorhelper.WithShutdown(p.shutdown), processorhelper.WithCapabilities(capabilities))
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p := newProcessor(cfg.(*Config), set)
	return processorhelper.NewMetrics(ctx, set, cfg, next, p.processMetrics,
		processorhelper.WithStart(p.start), processorhelper.WithShutdown(p.shutdown), processorhelper.WithCapabilities(capabilities))
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	p := newProcessor(cfg.(*Config), set)
	return processorhelper.NewLogs(ctx, set, cfg, next, p.processLogs,
		processorhelper.WithStart(p.start), processorhelper.WithShutdown(p.shutdown), processorhelper.WithCapabilities(capabilities))
}
