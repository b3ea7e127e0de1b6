package rollbackexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-release/otelcol-release/exporter/rollbackexporter/internal/metadata"
)

// Type is the component type of the exporter.
var Type = metadata.Type

// NewFactory returns the rollback exporter factory.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(Type, createDefaultConfig, exporter.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	retry := configretry.NewDefaultBackOffConfig()
	retry.MaxElapsedTime = 10 * time.Minute
	return &Config{
		Timeout: 10 * time.Second,
		QueueConfig: configoptional.Default(exporterhelper.QueueBatchConfig{
			Sizer:        exporterhelper.RequestSizerTypeRequests,
			NumConsumers: 4,
			QueueSize:    1000,
		}),
		RetryConfig: retry,
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set)
	if err != nil {
		return nil, err
	}
	// Retries happen per target inside push, so that each target's outcome
	// is recorded when they run out; the helper only queues (persistently,
	// with storage) and times out.
	return exporterhelper.NewLogs(ctx, set, cfg, e.push,
		exporterhelper.WithStart(e.start), exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithQueue(c.QueueConfig),
		exporterhelper.WithRetry(configretry.BackOffConfig{Enabled: false}),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}))
}
