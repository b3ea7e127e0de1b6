package releasestoreextension

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension/internal/state"
)

const scopeName = "github.com/otelcol-release/otelcol-release/extension/releasestoreextension"

// Event outcomes counted in otelcol.releasestore.events.
const (
	outcomeAccepted  = "accepted"
	outcomeDuplicate = "duplicate"
	outcomeRejected  = "rejected"
	outcomeFailed    = "failed"
)

// evictionSeries is the kind of otelcol.releasestore.evictions counting
// evaluation series dropped by the store (the state's kinds are counted in
// refresh).
const evictionSeries = "series"

type storeMetrics struct {
	events    metric.Int64Counter
	evictions metric.Int64Counter
	decisions metric.Int64Counter
	reg       metric.Registration
	last      state.Evictions
}

// newStoreMetrics registers the store's instruments; counts is called when
// the gauges are collected.
func newStoreMetrics(mp metric.MeterProvider, counts func() state.Counts) (*storeMetrics, error) {
	m := &storeMetrics{}
	meter := mp.Meter(scopeName)
	var err error
	if m.events, err = meter.Int64Counter("otelcol.releasestore.events",
		metric.WithDescription("Deploy events offered to the store, by source and outcome (accepted, duplicate, rejected, failed)."),
		metric.WithUnit("{event}")); err != nil {
		return nil, err
	}
	if m.evictions, err = meter.Int64Counter("otelcol.releasestore.evictions",
		metric.WithDescription("Entries removed to stay within the configured caps, by kind (key, release, decision, dedupe, annotation, series)."),
		metric.WithUnit("{entry}")); err != nil {
		return nil, err
	}
	if m.decisions, err = meter.Int64Counter("otelcol.releasestore.decisions",
		metric.WithDescription("Decisions recorded, by action."),
		metric.WithUnit("{decision}")); err != nil {
		return nil, err
	}
	active, err := meter.Int64ObservableGauge("otelcol.releasestore.releases.active",
		metric.WithDescription("Releases that are live (rolling out or fully rolled out)."), metric.WithUnit("{release}"))
	if err != nil {
		return nil, err
	}
	inProgress, err := meter.Int64ObservableGauge("otelcol.releasestore.releases.in_progress",
		metric.WithDescription("Releases rolling out now."), metric.WithUnit("{release}"))
	if err != nil {
		return nil, err
	}
	keys, err := meter.Int64ObservableGauge("otelcol.releasestore.keys",
		metric.WithDescription("Tracked (service, environment, scope) keys."), metric.WithUnit("{key}"))
	if err != nil {
		return nil, err
	}
	m.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c := counts()
		o.ObserveInt64(active, int64(c.Live))
		o.ObserveInt64(inProgress, int64(c.InProgress))
		o.ObserveInt64(keys, int64(c.Keys))
		return nil
	}, active, inProgress, keys)
	return m, err
}

func (m *storeMetrics) event(source, outcome string, n int) {
	m.events.Add(context.Background(), int64(n), metric.WithAttributes(
		attribute.String("source", source), attribute.String("outcome", outcome)))
}

func (m *storeMetrics) decision(action string) {
	m.decisions.Add(context.Background(), 1, metric.WithAttributes(attribute.String("action", action)))
}

func (m *storeMetrics) evicted(kind string, n int64) {
	m.evictions.Add(context.Background(), n, metric.WithAttributes(attribute.String("kind", kind)))
}

// refresh counts the evictions since last time. Called with the writer lock
// held.
func (m *storeMetrics) refresh(s *state.State) {
	ev := s.Evictions()
	ctx := context.Background()
	for kind, d := range map[string]int64{
		"key": ev.Keys - m.last.Keys, "release": ev.Releases - m.last.Releases,
		"decision": ev.Decisions - m.last.Decisions, "dedupe": ev.DedupeEntries - m.last.DedupeEntries,
		"annotation": ev.Annotations - m.last.Annotations,
	} {
		if d > 0 {
			m.evictions.Add(ctx, d, metric.WithAttributes(attribute.String("kind", kind)))
		}
	}
	m.last = ev
}

func (m *storeMetrics) shutdown() {
	if m != nil && m.reg != nil {
		_ = m.reg.Unregister()
	}
}
