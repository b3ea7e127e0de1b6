package releasemetadatareceiver

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const scopeName = "github.com/otelcol-release/otelcol-release/receiver/releasemetadatareceiver"

type receiverMetrics struct {
	requests metric.Int64Counter
	dropped  metric.Int64Counter
}

func newReceiverMetrics(mp metric.MeterProvider) (*receiverMetrics, error) {
	c, err := mp.Meter(scopeName).Int64Counter("otelcol.releasemetadata.requests",
		metric.WithDescription("Deliveries received, by source, outcome (accepted, duplicate, ignored, rejected) and rejection reason."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	d, err := mp.Meter(scopeName).Int64Counter("otelcol.releasemetadata.dropped_fields",
		metric.WithDescription("Optional fields dropped from accepted deliveries because they could not be read, by source and rule; the events were kept."),
		metric.WithUnit("{field}"))
	if err != nil {
		return nil, err
	}
	return &receiverMetrics{requests: c, dropped: d}, nil
}

func (m *receiverMetrics) droppedField(src, rule string) {
	m.dropped.Add(context.Background(), 1, metric.WithAttributes(attribute.String("source", src), attribute.String("rule", rule)))
}

func (m *receiverMetrics) request(src, outcome, reason string) {
	attrs := []attribute.KeyValue{attribute.String("source", src), attribute.String("outcome", outcome)}
	if reason != "" {
		attrs = append(attrs, attribute.String("reason", reason))
	}
	m.requests.Add(context.Background(), 1, metric.WithAttributes(attrs...))
}
