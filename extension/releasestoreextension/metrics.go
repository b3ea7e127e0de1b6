package releasestoreextension

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension/internal/metadata"
	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension/internal/state"
	"github.com/otelcol-release/otelcol-release/internal/metricattrs"
)

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
	tb   *metadata.TelemetryBuilder
	reg  metric.Registration
	last state.Evictions
	// events are otelcol.releasestore.events' options, by source and
	// outcome: the counter is added to per event.
	events *metricattrs.Cache[sourceOutcome]
	// evictions are otelcol.releasestore.evictions' options, by kind: with
	// a history cap, a commit evicts releases nearly every time.
	evictions *metricattrs.Cache[string]
}

type sourceOutcome struct{ source, outcome string }

// newStoreMetrics creates the instruments of metadata.yaml; counts is called
// when the gauges are collected.
func newStoreMetrics(set component.TelemetrySettings, counts func() state.Counts) (*storeMetrics, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	m := &storeMetrics{tb: tb, events: metricattrs.New(func(k sourceOutcome) []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("source", k.source), attribute.String("outcome", k.outcome)}
	}), evictions: metricattrs.New(func(kind string) []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("kind", kind)}
	})}
	// One callback for the three gauges rather than the builder's one per
	// gauge: counts walks every key.
	m.reg, err = metadata.Meter(set).RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c := counts()
		o.ObserveInt64(tb.ReleasestoreReleasesActive, int64(c.Live))
		o.ObserveInt64(tb.ReleasestoreReleasesInProgress, int64(c.InProgress))
		o.ObserveInt64(tb.ReleasestoreKeys, int64(c.Keys))
		return nil
	}, tb.ReleasestoreReleasesActive, tb.ReleasestoreReleasesInProgress, tb.ReleasestoreKeys)
	return m, err
}

func (m *storeMetrics) event(source, outcome string, n int) {
	m.tb.ReleasestoreEvents.Add(context.Background(), int64(n), m.events.Option(sourceOutcome{source, outcome}))
}

func (m *storeMetrics) decision(action string) {
	m.tb.ReleasestoreDecisions.Add(context.Background(), 1, metric.WithAttributes(attribute.String("action", action)))
}

func (m *storeMetrics) evicted(kind string, n int64) {
	m.tb.ReleasestoreEvictions.Add(context.Background(), n, m.evictions.Option(kind))
}

// refresh counts the evictions since last time. Called with the writer lock
// held.
func (m *storeMetrics) refresh(s *state.State) {
	ev := s.Evictions()
	ctx := context.Background()
	for _, k := range [...]struct {
		kind string
		d    int64
	}{
		{"key", ev.Keys - m.last.Keys}, {"release", ev.Releases - m.last.Releases},
		{"decision", ev.Decisions - m.last.Decisions}, {"dedupe", ev.DedupeEntries - m.last.DedupeEntries},
		{"annotation", ev.Annotations - m.last.Annotations},
	} {
		if k.d > 0 {
			m.tb.ReleasestoreEvictions.Add(ctx, k.d, m.evictions.Option(k.kind))
		}
	}
	m.last = ev
}

// observeRoundTrips reports the shared database's request count, for
// sizing PostgreSQL to a fleet.
func (m *storeMetrics) observeRoundTrips(sh *sharedLog) error {
	return m.tb.RegisterReleasestoreSharedRoundTripsCallback(func(_ context.Context, o metric.Int64Observer) error {
		if db := sh.db.Load(); db != nil {
			o.Observe(db.RoundTrips())
		}
		return nil
	})
}

func (m *storeMetrics) shutdown() {
	if m == nil {
		return
	}
	if m.reg != nil {
		_ = m.reg.Unregister()
	}
	m.tb.Shutdown()
}
