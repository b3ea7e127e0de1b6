package releasecorrelationprocessor

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/storeroles"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/detect"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/stamp"
)

// releaseStore is what the processor asks of the release store: views to
// stamp with and, for detection, the releases and their changes, and where
// to put decisions, evaluation series and the releases it observes.
type releaseStore interface {
	storeroles.ServiceLookup
	storeroles.ReleaseReader
	storeroles.ChangeSubscriber
	storeroles.DecisionPublisher
	storeroles.SeriesRecorder
	storeroles.EventRecorder
}

type correlationProcessor struct {
	cfg     *Config
	set     processor.Settings
	stamper *stamp.Stamper
	// det is nil when detection is off.
	det    *detect.Detector
	detRef bool
	// hints is det as a stamp.Hinter; nil when detection is off.
	hints   stamp.Hinter
	traces  []stamp.Field
	metrics []stamp.Field
	logs    []stamp.Field
}

func newProcessor(cfg *Config, set processor.Settings) *correlationProcessor {
	return &correlationProcessor{
		cfg: cfg, set: set,
		traces: fields(cfg.Attributes.Traces), metrics: fields(cfg.Attributes.Metrics), logs: fields(cfg.Attributes.Logs),
	}
}

func (p *correlationProcessor) start(_ context.Context, host component.Host) error {
	store, err := storeroles.Find[releaseStore](host, p.cfg.Store)
	if err != nil {
		return fmt.Errorf("releasecorrelation: %w", err)
	}
	p.stamper = stamp.New(store.Service, p.cfg.Environment, p.cfg.environmentAliases(), p.cfg.Overwrite)
	if p.cfg.Detection.Enabled {
		d, err := acquireDetection(p.cfg, store, p)
		if err != nil {
			return err
		}
		p.det, p.detRef = d.det, true
		p.hints = d.det
	}
	return nil
}

func (p *correlationProcessor) shutdown(context.Context) error {
	if p.detRef {
		releaseDetection(p.cfg)
		p.detRef = false
	}
	return nil
}

// arm returns the detection series of a resource's version, or nil when
// detection is off or the version cannot be told. Every service is
// counted, whether the store knows it or not: the versions seen serving
// are the controls of deploys to come.
func (p *correlationProcessor) arm(attrs pcommon.Map, m stamp.Match) *detect.Arm {
	if p.det == nil {
		return nil
	}
	if m.Version == "" {
		if m.Key != nil && m.Key.Active != nil && m.Key.Active.Status == release.StatusInProgress {
			// Two versions may be serving and nothing tells this one.
			return nil
		}
		// Nothing rolls out: unversioned telemetry is whatever runs now,
		// the pre-deploy baseline of an all-at-once deploy to come.
		return p.det.Arm(detect.ArmKey{Service: m.Service, Version: detect.Unversioned}, "")
	}
	if !m.Inferred {
		p.det.LearnVersion(m.Service, attrs, m.Version)
	}
	scope := ""
	if m.Key != nil {
		scope = m.Key.ScopeKey
	}
	return p.det.Arm(detect.ArmKey{Service: m.Service, Scope: scope, Version: m.Version}, m.Label)
}

func (p *correlationProcessor) processTraces(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	rss := td.ResourceSpans()
	var now time.Time
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		m, ok := p.stamper.Match(attrs, p.hints)
		if !ok {
			continue
		}
		// Detection sees the resource as it arrived: stamped attributes
		// must not change a stream's identity or a breakdown value.
		if a := p.arm(attrs, m); a != nil {
			if now.IsZero() {
				now = p.det.Now()
			}
			a.RecordSpans(p.det.Classifier(), attrs, rs.ScopeSpans(), now)
		}
		p.stamper.Apply(attrs, m, p.traces)
	}
	return td, nil
}

func (p *correlationProcessor) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	rms := md.ResourceMetrics()
	var now time.Time
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		attrs := rm.Resource().Attributes()
		m, ok := p.stamper.Match(attrs, p.hints)
		if !ok {
			continue
		}
		// Detection sees the resource as it arrived: stamped attributes
		// must not change a stream's identity or a breakdown value.
		if a := p.arm(attrs, m); a != nil {
			if now.IsZero() {
				now = p.det.Now()
			}
			a.RecordMetrics(p.det.Classifier(), p.det.KPIs(), attrs, rm.ScopeMetrics(), now)
		}
		p.stamper.Apply(attrs, m, p.metrics)
	}
	return md, nil
}

func (p *correlationProcessor) processLogs(_ context.Context, ld plog.Logs) (plog.Logs, error) {
	rls := ld.ResourceLogs()
	var now time.Time
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		attrs := rl.Resource().Attributes()
		m, ok := p.stamper.Match(attrs, p.hints)
		if !ok {
			continue
		}
		if a := p.arm(attrs, m); a != nil {
			total, errs := countLogs(rl)
			if now.IsZero() {
				now = p.det.Now()
			}
			a.RecordLogs(total, errs, now)
		}
		p.stamper.Apply(attrs, m, p.logs)
	}
	return ld, nil
}

// countLogs counts a resource's log records, and those of severity ERROR or
// worse. Records without a severity number count as not errors.
func countLogs(rl plog.ResourceLogs) (total, errs int) {
	sls := rl.ScopeLogs()
	for i := 0; i < sls.Len(); i++ {
		lrs := sls.At(i).LogRecords()
		total += lrs.Len()
		for j := 0; j < lrs.Len(); j++ {
			if lrs.At(j).SeverityNumber() >= plog.SeverityNumberError {
				errs++
			}
		}
	}
	return total, errs
}
