package releasecorrelationprocessor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/storeroles"
)

// ReplayInput is a recording: deploy events and telemetry, in any order.
// Each telemetry batch is replayed at its latest timestamp (when it would
// have arrived); each event at its time.
type ReplayInput struct {
	Events  []release.Event
	Traces  []ptrace.Traces
	Logs    []plog.Logs
	Metrics []pmetric.Metrics
	// Tail is how long the clock runs on after the last record, so that
	// pending verdicts are reached (default: a minute).
	Tail time.Duration
	// StopWhen, if set, ends the replay after a decision it accepts.
	StopWhen func(*release.Decision) bool
}

// ReplayResult is what detection decided, on the recording's clock.
type ReplayResult struct {
	Decisions  []*release.Decision
	Start, End time.Time
}

type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// replayItem is one record of the recording at its time.
type replayItem struct {
	at      time.Time
	event   *release.Event
	traces  ptrace.Traces
	logs    plog.Logs
	metrics pmetric.Metrics
	kind    int // 0 event, 1 traces, 2 logs, 3 metrics: events first at equal times
}

// Replay runs a recording through this processor, with a real in-memory
// release store, on a virtual clock that follows the recording: the same
// code as live, deciding what and when it would have. cfg is the processor
// configuration (detection settings to compare); its detection is enabled.
func Replay(ctx context.Context, cfg *Config, in ReplayInput) (*ReplayResult, error) {
	items, err := replayItems(in)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return &ReplayResult{}, nil
	}
	c := *cfg
	c.Detection.Enabled = true
	clock := &virtualClock{now: items[0].at}
	c.clock = clock

	store, shutdownStore, err := startReplayStore(ctx)
	if err != nil {
		return nil, err
	}
	defer shutdownStore()
	// Under the id the processor's `store:` names, if it names one (a
	// collector config's processor often does).
	storeID := store.id
	if c.Store != nil {
		storeID = *c.Store
	}
	host := replayHost{exts: map[component.ID]component.Component{storeID: store.ext}}

	res := &ReplayResult{Start: items[0].at}
	var mu sync.Mutex
	stop := false
	unsub := store.Subscribe(storeroles.Subscriber{OnDecision: func(d *release.Decision) {
		mu.Lock()
		defer mu.Unlock()
		res.Decisions = append(res.Decisions, d)
		if in.StopWhen != nil && in.StopWhen(d) {
			stop = true
		}
	}})
	defer unsub()

	set := processor.Settings{ID: component.NewIDWithName(Type, "replay"), TelemetrySettings: component.TelemetrySettings{Logger: zap.NewNop()}}
	set.TelemetrySettings = nopTelemetry()
	f := NewFactory()
	tp, err := f.CreateTraces(ctx, set, &c, consumertest.NewNop())
	if err != nil {
		return nil, err
	}
	lp, err := f.CreateLogs(ctx, set, &c, consumertest.NewNop())
	if err != nil {
		return nil, err
	}
	mp, err := f.CreateMetrics(ctx, set, &c, consumertest.NewNop())
	if err != nil {
		return nil, err
	}
	for _, p := range []component.Component{tp, lp, mp} {
		if err := p.Start(ctx, host); err != nil {
			return nil, err
		}
		defer func(p component.Component) { _ = p.Shutdown(ctx) }(p)
	}
	shared.Lock()
	det := shared.m[&c].det
	shared.Unlock()

	interval := c.Detection.Interval
	next := items[0].at.Add(interval)
	advance := func(to time.Time) bool {
		for !next.After(to) {
			clock.set(next)
			det.Tick()
			next = next.Add(interval)
			mu.Lock()
			done := stop
			mu.Unlock()
			if done {
				return false
			}
		}
		return true
	}
	for _, it := range items {
		if !advance(it.at) {
			break
		}
		clock.set(it.at)
		switch it.kind {
		case 0:
			if _, err := store.Record(ctx, []release.Event{*it.event}); err != nil {
				return nil, fmt.Errorf("replaying event %s: %w", it.event.ID, err)
			}
		case 1:
			err = tp.ConsumeTraces(ctx, it.traces)
		case 2:
			err = lp.ConsumeLogs(ctx, it.logs)
		case 3:
			err = mp.ConsumeMetrics(ctx, it.metrics)
		}
		if err != nil {
			return nil, err
		}
	}
	tail := in.Tail
	if tail <= 0 {
		tail = time.Minute
	}
	end := items[len(items)-1].at.Add(tail)
	advance(end)
	res.End = clock.Now()
	mu.Lock()
	defer mu.Unlock()
	return res, nil
}

func replayItems(in ReplayInput) ([]replayItem, error) {
	var items []replayItem
	for i := range in.Events {
		e := in.Events[i]
		if e.Time.IsZero() {
			return nil, fmt.Errorf("event %s has no time: a recording needs one", e.ID)
		}
		if e.ReceivedAt.IsZero() {
			e.ReceivedAt = e.Time
		}
		items = append(items, replayItem{at: e.Time, event: &e, kind: 0})
	}
	for _, td := range in.Traces {
		if at := latestSpan(td); !at.IsZero() {
			items = append(items, replayItem{at: at, traces: td, kind: 1})
		}
	}
	for _, ld := range in.Logs {
		if at := latestLog(ld); !at.IsZero() {
			items = append(items, replayItem{at: at, logs: ld, kind: 2})
		}
	}
	for _, md := range in.Metrics {
		if at := latestPoint(md); !at.IsZero() {
			items = append(items, replayItem{at: at, metrics: md, kind: 3})
		}
	}
	sort.SliceStable(items, func(i, j int) bool {
		if !items[i].at.Equal(items[j].at) {
			return items[i].at.Before(items[j].at)
		}
		return items[i].kind < items[j].kind
	})
	return items, nil
}

func latestSpan(td ptrace.Traces) time.Time {
	var latest time.Time
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if t := spans.At(k).EndTimestamp().AsTime(); t.After(latest) {
					latest = t
				}
			}
		}
	}
	return latest
}

func latestLog(ld plog.Logs) time.Time {
	var latest time.Time
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				t := lrs.At(k).Timestamp().AsTime()
				if lrs.At(k).Timestamp() == 0 {
					t = lrs.At(k).ObservedTimestamp().AsTime()
				}
				if t.After(latest) {
					latest = t
				}
			}
		}
	}
	return latest
}

func latestPoint(md pmetric.Metrics) time.Time {
	var latest time.Time
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				var ts []time.Time
				switch m.Type() {
				case pmetric.MetricTypeSum:
					for p := 0; p < m.Sum().DataPoints().Len(); p++ {
						ts = append(ts, m.Sum().DataPoints().At(p).Timestamp().AsTime())
					}
				case pmetric.MetricTypeGauge:
					for p := 0; p < m.Gauge().DataPoints().Len(); p++ {
						ts = append(ts, m.Gauge().DataPoints().At(p).Timestamp().AsTime())
					}
				case pmetric.MetricTypeHistogram:
					for p := 0; p < m.Histogram().DataPoints().Len(); p++ {
						ts = append(ts, m.Histogram().DataPoints().At(p).Timestamp().AsTime())
					}
				}
				for _, t := range ts {
					if t.After(latest) {
						latest = t
					}
				}
			}
		}
	}
	return latest
}

type replayHost struct {
	exts map[component.ID]component.Component
}

func (h replayHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// replayStore is the real release store a replay runs against: the
// processor finds it in the host as it would in a collector, and the
// replay records the recording's deploy events and hears the decisions
// through it.
type replayStore struct {
	// ext is the extension itself, for the processor to find.
	ext extension.Extension
	storeroles.EventRecorder
	storeroles.ChangeSubscriber
	id component.ID
}

// startReplayStore starts an in-memory release store on a loopback port
// the system chooses. It is built with the extension's factory, as the
// collector builds it; everything else goes through the store's roles.
func startReplayStore(ctx context.Context) (*replayStore, func(), error) {
	f := releasestoreextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*releasestoreextension.Config)
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	id := component.NewIDWithName(f.Type(), "replay")
	ext, err := f.Create(ctx, extension.Settings{ID: id, TelemetrySettings: nopTelemetry()}, cfg)
	if err != nil {
		return nil, nil, err
	}
	roles, ok := ext.(interface {
		storeroles.EventRecorder
		storeroles.ChangeSubscriber
	})
	if !ok {
		return nil, nil, errors.New("the release store does not record events or announce decisions")
	}
	if err := ext.Start(ctx, replayHost{}); err != nil {
		return nil, nil, err
	}
	st := &replayStore{ext: ext, EventRecorder: roles, ChangeSubscriber: roles, id: id}
	return st, func() { _ = ext.Shutdown(ctx) }, nil
}
