package releasemetadatareceiver

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-release/otelcol-release/receiver/releasemetadatareceiver/internal/metadata"
)

// receiverMetrics records the instruments of metadata.yaml with the
// attributes documented there.
type receiverMetrics struct {
	tb *metadata.TelemetryBuilder
}

func newReceiverMetrics(set component.TelemetrySettings) (*receiverMetrics, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	return &receiverMetrics{tb: tb}, nil
}

func (m *receiverMetrics) droppedField(src, rule string) {
	m.tb.ReleasemetadataDroppedFields.Add(context.Background(), 1, metric.WithAttributes(attribute.String("source", src), attribute.String("rule", rule)))
}

func (m *receiverMetrics) request(src, outcome, reason string) {
	attrs := []attribute.KeyValue{attribute.String("source", src), attribute.String("outcome", outcome)}
	if reason != "" {
		attrs = append(attrs, attribute.String("reason", reason))
	}
	m.tb.ReleasemetadataRequests.Add(context.Background(), 1, metric.WithAttributes(attrs...))
}
