package releasecorrelationprocessor

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/storeroles"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/detect"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/metadata"
)

// detection is the detector shared by the traces, metrics and logs
// instances of one configured processor: spans and logs of a version feed
// the same evidence. It starts with the first instance and stops with the
// last.
type detection struct {
	det    *detect.Detector
	store  releaseStore
	logger *zap.Logger
	unsub  func()
	stop   chan struct{}
	wg     sync.WaitGroup
	reg    metric.Registration
	tb     *metadata.TelemetryBuilder
}

var shared = struct {
	sync.Mutex
	m    map[*Config]*detection
	refs map[*Config]int
}{m: map[*Config]*detection{}, refs: map[*Config]int{}}

// acquireDetection returns the config's running detection, starting it on
// first use.
func acquireDetection(cfg *Config, store releaseStore, p *correlationProcessor) (*detection, error) {
	shared.Lock()
	defer shared.Unlock()
	if d, ok := shared.m[cfg]; ok {
		shared.refs[cfg]++
		return d, nil
	}
	d := &detection{store: store, logger: p.set.Logger, stop: make(chan struct{})}
	var err error
	if d.tb, err = metadata.NewTelemetryBuilder(p.set.TelemetrySettings); err != nil {
		return nil, err
	}
	var clock detect.Clock = detect.WallClock{}
	if cfg.clock != nil {
		clock = cfg.clock
	}
	d.det = detect.New(cfg.Detection, clock, d.publish)
	d.det.SetSeriesSink(store.RecordSeries)
	d.det.SetObservedSink(d.recordObserved)
	if f := storeroles.FleetOf(store); f != nil {
		d.det.SetFleet(&fleetExchange{fleet: f, logger: p.set.Logger}, f.Replica())
	}
	// One callback for the five instruments rather than the builder's one
	// per instrument: Stats takes the detector's lock.
	tb := d.tb
	if d.reg, err = metadata.Meter(p.set.TelemetrySettings).RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := d.det.Stats()
		o.ObserveInt64(tb.ReleasecorrelationArms, int64(st.Arms))
		o.ObserveInt64(tb.ReleasecorrelationEvaluations, int64(st.Evaluations))
		o.ObserveInt64(tb.ReleasecorrelationArmsEvicted, st.ArmsEvicted)
		o.ObserveInt64(tb.ReleasecorrelationVersionHints, int64(st.Hints))
		o.ObserveInt64(tb.ReleasecorrelationImplicitReleases, st.ImplicitReleases)
		return nil
	}, tb.ReleasecorrelationArms, tb.ReleasecorrelationEvaluations, tb.ReleasecorrelationArmsEvicted,
		tb.ReleasecorrelationVersionHints, tb.ReleasecorrelationImplicitReleases); err != nil {
		return nil, err
	}

	d.unsub = store.Subscribe(storeroles.Subscriber{OnRelease: func(ch storeroles.ReleaseChange) {
		// Releases evicted to make room end their evaluations now, so that
		// a burst of new services never holds more evaluations than the
		// store holds releases (forgetEvicted is the net for the rest).
		for _, id := range ch.Evicted {
			d.det.Forget(id)
		}
		if ch.Release != nil {
			d.det.OnRelease(ch.Release)
		}
		for _, r := range ch.Touched {
			d.det.OnRelease(r)
		}
	}})
	// Releases already rolling out when the collector starts are evaluated
	// from now on.
	for _, r := range store.Live() {
		d.det.OnRelease(r)
	}
	if cfg.clock == nil {
		d.wg.Add(1)
		go d.run(cfg.Detection.Interval)
	}
	shared.m[cfg] = d
	shared.refs[cfg] = 1
	return d, nil
}

func releaseDetection(cfg *Config) {
	shared.Lock()
	d, ok := shared.m[cfg]
	if !ok {
		shared.Unlock()
		return
	}
	shared.refs[cfg]--
	last := shared.refs[cfg] == 0
	if last {
		delete(shared.m, cfg)
		delete(shared.refs, cfg)
	}
	shared.Unlock()
	if last {
		d.unsub()
		close(d.stop)
		d.wg.Wait()
		_ = d.reg.Unregister()
	}
}

func (d *detection) run(interval time.Duration) {
	defer d.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	ticks := 0
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.det.Tick()
			if ticks++; ticks%forgetEvery == 0 {
				d.forgetEvicted()
			}
		}
	}
}

// forgetEvery is how many evaluation intervals pass between checks for
// releases the store evicted.
const forgetEvery = 10

// forgetEvicted stops evaluating releases the store no longer holds (its
// max_keys cap evicted them), so that evaluations stay bounded by the
// store's caps.
func (d *detection) forgetEvicted() {
	for _, id := range d.det.Evaluating() {
		if _, ok := d.store.Release(id); !ok {
			d.det.Forget(id)
		}
	}
}

// publish records a decision in the store; the store's subscribers (the
// release-metadata receiver) emit it as a release.decision log record.
func (d *detection) publish(dec *release.Decision) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	added, err := d.store.PublishDecision(ctx, dec)
	if err != nil {
		d.logger.Error("Could not record a decision; it will be re-published if the verdict stands", zap.String("decision_id", dec.DecisionID), zap.Error(err))
		return
	}
	if added {
		d.tb.ReleasecorrelationDecisions.Add(ctx, 1, metric.WithAttributes(attribute.String("action", string(dec.Action)),
			attribute.String("verdict", string(dec.Verdict)), attribute.String("cause", string(dec.Cause))))
		d.logger.Info("Release decision", zap.String("decision_id", dec.DecisionID), zap.String("action", string(dec.Action)),
			zap.String("verdict", string(dec.Verdict)), zap.String("rationale", dec.Rationale))
	}
}

// recordObserved records an implicit release, or the end of its rollout, in
// the store, as an event of source "observed"; the store's subscribers
// (this detector among them) then treat it like any other.
func (d *detection) recordObserved(ch detect.ObservedChange) {
	if ch.Type == release.EventStarted && d.knows(ch) {
		return
	}
	id := ch.DeploymentID
	if id == "" {
		id = observedID(ch)
	}
	attrs := map[string]string{
		release.AttrServiceName:           ch.Service.Name,
		release.AttrServiceVersion:        ch.Version,
		release.AttrDeploymentEnvironment: ch.Service.Environment,
	}
	if ch.Service.Namespace != "" {
		attrs[release.AttrServiceNamespace] = ch.Service.Namespace
	}
	e := release.Event{
		ID: id, Type: ch.Type, Time: ch.At.UTC(), ReceivedAt: ch.At.UTC(), Source: release.SourceObserved, Attributes: attrs,
		Release: release.Context{PreviousVersion: ch.PreviousVersion, Scope: parseScope(ch.Scope),
			Intent: "a new version seen in the telemetry, with no deploy event"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.store.Record(ctx, []release.Event{e}); err != nil {
		d.logger.Warn("Could not record a release seen in the telemetry", zap.String("deployment_id", id), zap.Error(err))
		return
	}
	d.logger.Info("Release seen in the telemetry", zap.String("deployment_id", id), zap.String("event", string(ch.Type)),
		zap.String("service.name", ch.Service.Name), zap.String("service.version", ch.Version), zap.String("previous_version", ch.PreviousVersion))
}

// knows reports whether the store already has a live release of the version
// (its deploy event came first).
func (d *detection) knows(ch detect.ObservedChange) bool {
	view := d.store.Service(ch.Service)
	if view == nil {
		return false
	}
	v := release.NormalizeVersion(ch.Version)
	for _, k := range view.Keys {
		if k.ScopeKey == ch.Scope && k.Active != nil && release.NormalizeVersion(k.Active.Version()) == v {
			return true
		}
	}
	return false
}

// observedID names an implicit release after what it is, so that replicas
// and replays name it alike. It has no "/", so it can be a URL path segment.
func observedID(ch detect.ObservedChange) string {
	id := "observed:" + ch.Service.Environment + ":"
	if ch.Service.Namespace != "" {
		id += ch.Service.Namespace + "."
	}
	id += ch.Service.Name + ":" + ch.Version
	if ch.Scope != "" {
		id += ":" + ch.Scope
	}
	return strings.ReplaceAll(id, "/", "_")
}

func parseScope(scope string) map[string]string {
	if scope == "" {
		return nil
	}
	out := map[string]string{}
	for _, pair := range strings.Split(scope, ",") {
		k, v, _ := strings.Cut(pair, "=")
		out[k] = v
	}
	return out
}
