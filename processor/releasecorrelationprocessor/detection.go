package releasecorrelationprocessor

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/detect"
)

const scopeName = "github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor"

// detection is the detector shared by the traces, metrics and logs
// instances of one configured processor: spans and logs of a version feed
// the same evidence. It starts with the first instance and stops with the
// last.
type detection struct {
	det    *detect.Detector
	store  releasestoreextension.Store
	logger *zap.Logger
	unsub  func()
	stop   chan struct{}
	wg     sync.WaitGroup
	reg    metric.Registration
	count  metric.Int64Counter
}

var shared = struct {
	sync.Mutex
	m    map[*Config]*detection
	refs map[*Config]int
}{m: map[*Config]*detection{}, refs: map[*Config]int{}}

// acquireDetection returns the config's running detection, starting it on
// first use.
func acquireDetection(cfg *Config, store releasestoreextension.Store, p *correlationProcessor) (*detection, error) {
	shared.Lock()
	defer shared.Unlock()
	if d, ok := shared.m[cfg]; ok {
		shared.refs[cfg]++
		return d, nil
	}
	d := &detection{store: store, logger: p.set.Logger, stop: make(chan struct{})}
	meter := p.set.TelemetrySettings.MeterProvider.Meter(scopeName)
	var err error
	if d.count, err = meter.Int64Counter("otelcol.releasecorrelation.decisions",
		metric.WithDescription("Decisions published, by action, verdict and cause."), metric.WithUnit("{decision}")); err != nil {
		return nil, err
	}
	var clock detect.Clock = detect.WallClock{}
	if cfg.clock != nil {
		clock = cfg.clock
	}
	d.det = detect.New(cfg.Detection, clock, d.publish)
	d.det.SetSeriesSink(store.RecordSeries)
	arms, err := meter.Int64ObservableGauge("otelcol.releasecorrelation.arms",
		metric.WithDescription("Tracked (service, environment, scope, version) series."), metric.WithUnit("{series}"))
	if err != nil {
		return nil, err
	}
	evals, err := meter.Int64ObservableGauge("otelcol.releasecorrelation.evaluations",
		metric.WithDescription("Releases under evaluation."), metric.WithUnit("{release}"))
	if err != nil {
		return nil, err
	}
	evicted, err := meter.Int64ObservableCounter("otelcol.releasecorrelation.arms.evicted",
		metric.WithDescription("Series dropped to stay within detection::max_arms."), metric.WithUnit("{series}"))
	if err != nil {
		return nil, err
	}
	if d.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := d.det.Stats()
		o.ObserveInt64(arms, int64(st.Arms))
		o.ObserveInt64(evals, int64(st.Evaluations))
		o.ObserveInt64(evicted, st.ArmsEvicted)
		return nil
	}, arms, evals, evicted); err != nil {
		return nil, err
	}

	d.unsub = store.Subscribe(releasestoreextension.Subscriber{OnRelease: func(ch releasestoreextension.ReleaseChange) {
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
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.det.Tick()
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
		d.count.Add(ctx, 1, metric.WithAttributes(attribute.String("action", string(dec.Action)),
			attribute.String("verdict", string(dec.Verdict)), attribute.String("cause", string(dec.Cause))))
		d.logger.Info("Release decision", zap.String("decision_id", dec.DecisionID), zap.String("action", string(dec.Action)),
			zap.String("verdict", string(dec.Verdict)), zap.String("rationale", dec.Rationale))
	}
}
