package releasemetadatareceiver

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-release/otelcol-release/internal/metricattrs"
	"github.com/otelcol-release/otelcol-release/receiver/releasemetadatareceiver/internal/metadata"
)

// receiverMetrics records the instruments of metadata.yaml with the
// attributes documented there.
type receiverMetrics struct {
	tb *metadata.TelemetryBuilder
	// requests are otelcol.releasemetadata.requests' options, added to
	// per delivery.
	requests *metricattrs.Cache[requestAttrs]
}

type requestAttrs struct{ source, outcome, reason string }

func newReceiverMetrics(set component.TelemetrySettings) (*receiverMetrics, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	return &receiverMetrics{tb: tb, requests: metricattrs.New(func(k requestAttrs) []attribute.KeyValue {
		attrs := []attribute.KeyValue{attribute.String("source", k.source), attribute.String("outcome", k.outcome)}
		if k.reason != "" {
			attrs = append(attrs, attribute.String("reason", k.reason))
		}
		return attrs
	})}, nil
}

func (m *receiverMetrics) droppedField(src, rule string) {
	m.tb.ReleasemetadataDroppedFields.Add(context.Background(), 1, metric.WithAttributes(attribute.String("source", src), attribute.String("rule", rule)))
}

func (m *receiverMetrics) request(src, outcome, reason string) {
	m.tb.ReleasemetadataRequests.Add(context.Background(), 1, m.requests.Option(requestAttrs{src, outcome, reason}))
}
