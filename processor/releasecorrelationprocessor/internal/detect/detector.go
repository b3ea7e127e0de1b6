// Package detect finds regressions of new versions as their telemetry
// streams: per (service, environment, scope, version) it tallies requests,
// failures, latency and error logs in bounded state; per release under
// evaluation it compares the candidate with a control (the previous version
// running at the same time, or the same key just before the deploy) with
// the always-valid tests of package sequential, decides a verdict and a
// cause, applies the policy, and publishes decisions. Time comes from an
// injectable clock, so the same code runs live and in replay.
package detect

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// Clock tells the time. Live it is the wall clock; in replay and tests, a
// virtual one.
type Clock interface{ Now() time.Time }

// WallClock is the real clock.
type WallClock struct{}

// Now implements Clock.
func (WallClock) Now() time.Time { return time.Now() }

// Detector holds the detection state.
type Detector struct {
	cfg        Config
	clock      Clock
	classifier SpanClassifier
	kpis       []KPI
	publish    func(*release.Decision)

	armsMu sync.RWMutex
	arms   map[ArmKey]*Arm
	// Evicted counts arms dropped to stay within MaxArms.
	evicted int64

	evalMu sync.Mutex
	evals  map[string]*evaluation
	last   time.Time

	// series, when set, receives each evaluation's state every
	// seriesEvery (for the operator page's plots).
	series func(releaseID string, p release.SeriesPoint)
}

// seriesEvery is how often an evaluation's state is sent to the series sink.
const seriesEvery = 5 * time.Second

// SetSeriesSink sends each evaluation's state, every few seconds, to sink.
func (d *Detector) SetSeriesSink(sink func(releaseID string, p release.SeriesPoint)) { d.series = sink }

// New returns a detector that publishes decisions through publish.
func New(cfg Config, clock Clock, publish func(*release.Decision)) *Detector {
	cfg = cfg.withListDefaults()
	return &Detector{
		cfg: cfg, clock: clock, publish: publish,
		classifier: SpanClassifier{ServerErrorMin: int64(cfg.ServerErrorStatus), Breakdown: cfg.Breakdown},
		kpis:       cfg.kpis(),
		arms:       map[ArmKey]*Arm{},
		evals:      map[string]*evaluation{},
	}
}

// Classifier is the span classification in force.
func (d *Detector) Classifier() SpanClassifier { return d.classifier }

// KPIs are the configured business KPIs.
func (d *Detector) KPIs() []KPI { return d.kpis }

// Now is the detector's clock.
func (d *Detector) Now() time.Time { return d.clock.Now() }

// Arm returns the accumulator of a version, creating it on first use.
func (d *Detector) Arm(k ArmKey) *Arm {
	d.armsMu.RLock()
	a, ok := d.arms[k]
	d.armsMu.RUnlock()
	if ok {
		return a
	}
	d.armsMu.Lock()
	defer d.armsMu.Unlock()
	if a, ok := d.arms[k]; ok {
		return a
	}
	if len(d.arms) >= d.cfg.MaxArms {
		d.evictLocked()
	}
	a = newArm(k, d.cfg.BaselineWindow)
	d.arms[k] = a
	return a
}

// evictLocked drops the least recently seen arm not under evaluation.
func (d *Detector) evictLocked() {
	busy := d.busyArms()
	var victim *Arm
	var victimSeen time.Time
	for k, a := range d.arms {
		if busy[k] {
			continue
		}
		a.mu.Lock()
		seen := a.lastSeen
		a.mu.Unlock()
		if victim == nil || seen.Before(victimSeen) {
			victim, victimSeen = a, seen
		}
	}
	if victim != nil {
		delete(d.arms, victim.key)
		d.evicted++
	}
}

func (d *Detector) busyArms() map[ArmKey]bool {
	d.evalMu.Lock()
	defer d.evalMu.Unlock()
	busy := make(map[ArmKey]bool, 2*len(d.evals))
	for _, ev := range d.evals {
		busy[ev.cand] = true
		busy[ev.ctrl] = true
	}
	return busy
}

// Stats are the detector's sizes, for internal metrics.
type Stats struct {
	Arms, Evaluations int
	ArmsEvicted       int64
}

// Stats returns the current sizes.
func (d *Detector) Stats() Stats {
	d.armsMu.RLock()
	arms, evicted := len(d.arms), d.evicted
	d.armsMu.RUnlock()
	d.evalMu.Lock()
	evals := len(d.evals)
	d.evalMu.Unlock()
	return Stats{Arms: arms, Evaluations: evals, ArmsEvicted: evicted}
}

// OnRelease starts evaluating a release rolling out, and stops evaluating
// one that ended.
func (d *Detector) OnRelease(r *release.Release) {
	now := d.clock.Now()
	d.evalMu.Lock()
	defer d.evalMu.Unlock()
	if ev, ok := d.evals[r.ID]; ok {
		ev.rel = r
		if !r.Status.Live() {
			delete(d.evals, r.ID)
		}
		return
	}
	// A first release has nothing to be compared with; a release that
	// ended, or started longer ago than the horizon, is not evaluated.
	if !r.Status.Live() || now.Sub(r.StartedAt) > d.cfg.MaxDuration || r.Release.PreviousVersion == "" {
		return
	}
	// A release fully rolled out before we saw it started (an Argo CD
	// "deployed" notification) is still evaluated, against the baseline.
	key := r.Key()
	cand := ArmKey{Service: key.Service, Scope: key.Scope, Version: release.NormalizeVersion(r.Version())}
	ctrl := ArmKey{Service: key.Service, Scope: key.Scope, Version: release.NormalizeVersion(r.Release.PreviousVersion)}
	ev := &evaluation{rel: r, cand: cand, ctrl: ctrl, start: now, warmEnd: now.Add(d.cfg.Warmup), published: map[release.Action]bool{}}
	if ctrl.Version != "" {
		d.armsMu.RLock()
		prev := d.arms[ctrl]
		d.armsMu.RUnlock()
		if prev != nil {
			ev.prevBase, ev.prevHist = prev.baseline()
			ev.peersCtrl = prev.peerSnapshot()
		}
	}
	ev.envBase = d.environmentBaseline(key.Service)
	d.armsMu.RLock()
	if a := d.arms[cand]; a != nil {
		ev.peersCand = a.peerSnapshot()
		ev.slicesCand = a.sliceSnapshot()
	}
	if a := d.arms[ctrl]; a != nil {
		ev.slicesCtrl = a.sliceSnapshot()
	}
	d.armsMu.RUnlock()
	d.evals[r.ID] = ev
}

// environmentBaseline sums the recent counts of the other services of the
// environment.
func (d *Detector) environmentBaseline(sk release.ServiceKey) counts {
	d.armsMu.RLock()
	defer d.armsMu.RUnlock()
	var c counts
	for k, a := range d.arms {
		if k.Service.Environment == sk.Environment && k.Service != sk {
			b, _ := a.baseline()
			c.add(b)
		}
	}
	return c
}

// Tick closes the current slice of every arm and advances every
// evaluation. Live, a ticker calls it every Interval; in replay, the driver
// calls it as virtual time passes.
func (d *Detector) Tick() {
	now := d.clock.Now()
	d.armsMu.RLock()
	arms := make([]*Arm, 0, len(d.arms))
	for _, a := range d.arms {
		arms = append(arms, a)
	}
	d.armsMu.RUnlock()
	for _, a := range arms {
		a.rotate(now, d.cfg.BaselineWindow)
	}

	d.evalMu.Lock()
	evals := make([]*evaluation, 0, len(d.evals))
	deploying := map[release.ServiceKey]bool{}
	for _, ev := range d.evals {
		evals = append(evals, ev)
		deploying[ev.cand.Service] = true
	}
	d.evalMu.Unlock()
	sort.Slice(evals, func(i, j int) bool { return evals[i].rel.ID < evals[j].rel.ID })

	env := map[string]counts{}
	for _, a := range arms {
		if !deploying[a.key.Service] {
			c := env[a.key.Service.Environment]
			c.add(a.last)
			env[a.key.Service.Environment] = c
		}
	}

	var out []*release.Decision
	var finished []string
	for _, ev := range evals {
		dec, done := d.step(ev, now, env[ev.cand.Service.Environment])
		if dec != nil {
			out = append(out, dec)
		}
		if done {
			finished = append(finished, ev.rel.ID)
		}
	}
	if len(finished) > 0 {
		d.evalMu.Lock()
		for _, id := range finished {
			delete(d.evals, id)
		}
		d.evalMu.Unlock()
	}
	d.last = now
	for _, dec := range out {
		d.publish(dec)
	}
}

func (d *Detector) lookup(k ArmKey) *Arm {
	if k.Version == "" {
		return nil
	}
	d.armsMu.RLock()
	defer d.armsMu.RUnlock()
	return d.arms[k]
}

// step advances one evaluation; it returns a decision to publish, and
// whether the evaluation is over.
func (d *Detector) step(ev *evaluation, now time.Time, envLast counts) (*release.Decision, bool) {
	cand, ctrl := d.lookup(ev.cand), d.lookup(ev.ctrl)
	if now.Before(ev.warmEnd) {
		if ctrl != nil {
			ev.ctrlWarm += ctrl.last.requests
		}
		return nil, false
	}
	if ev.mode == modeUndecided {
		ev.setup(&d.cfg, d.kpis, ctrl)
		return nil, false
	}
	if cand != nil {
		ev.observe(&d.cfg, cand, ctrl, envLast, envLast.requests > 0)
	}
	v := ev.assess(&d.cfg, now, cand, ctrl)
	if d.series != nil && now.Sub(ev.lastPoint) >= seriesEvery {
		ev.lastPoint = now
		d.series(ev.rel.ID, ev.point(now))
	}
	over := now.Sub(ev.start) >= d.cfg.MaxDuration
	if over && v.verdict == release.VerdictInconclusive && v.action == release.ActionNone && ev.highest == "" {
		// The horizon passed without a verdict: say so once.
		v.action = release.ActionHold
	}

	key := string(v.verdict) + "/" + string(v.action)
	if key == string(ev.pending)+"/"+string(ev.pendingA) {
		ev.streak++
	} else {
		ev.pending, ev.pendingA, ev.streak = v.verdict, v.action, 1
	}
	if ev.streak < d.cfg.Debounce && !over {
		return nil, over
	}
	if !d.shouldPublish(ev, v) {
		return nil, over
	}
	ev.published[v.action] = true
	if severity(v.action) > severity(ev.highest) || ev.highest == "" {
		ev.highest = v.action
	}
	ev.verdict = v.verdict
	return d.decision(ev, v, now), over
}

// shouldPublish: once per release and action; a later, more severe action
// escalates; a healthy verdict is published once and only if nothing worse
// was; "hold" only while nothing else was said.
func (d *Detector) shouldPublish(ev *evaluation, v verdictNow) bool {
	if ev.published[v.action] {
		return false
	}
	switch v.verdict {
	case release.VerdictRegression:
		return severity(v.action) > severity(ev.highest)
	case release.VerdictHealthy:
		return ev.highest == "" || ev.highest == release.ActionHold
	default:
		return v.action == release.ActionHold && ev.highest == ""
	}
}

func (d *Detector) decision(ev *evaluation, v verdictNow, now time.Time) *release.Decision {
	r := ev.rel
	rel := map[string]string{
		release.AttrDeploymentID:          r.ID,
		release.AttrServiceName:           r.Attributes[release.AttrServiceName],
		release.AttrDeploymentEnvironment: r.Attributes[release.AttrDeploymentEnvironment],
		release.AttrServiceVersion:        r.Version(),
	}
	if ns := r.Attributes[release.AttrServiceNamespace]; ns != "" {
		rel[release.AttrServiceNamespace] = ns
	}
	if pv := r.Release.PreviousVersion; pv != "" {
		rel["previous_version"] = pv
	}
	for k, val := range r.Release.Scope {
		rel[k] = val
	}
	// The flags travel with the decision, so that a gateway that never saw
	// the deploy event can still turn them off.
	if flags := r.Release.FeatureFlags; len(flags) > 0 {
		parts := make([]string, len(flags))
		for i, f := range flags {
			parts[i] = f.Key
			if f.Variant != "" {
				parts[i] += "=" + f.Variant
			}
		}
		rel[release.DecisionFeatureFlags] = strings.Join(parts, ",")
	}
	evidence := v.evidence
	if evidence == nil {
		evidence = []release.Evidence{}
	}
	return &release.Decision{
		DecisionID: decisionID(r.ID, v.action, v.verdict),
		Action:     v.action,
		Verdict:    v.verdict,
		Cause:      v.cause,
		Confidence: floorConfidence(v.confidence),
		DecidedAt:  now.UTC(),
		Release:    rel,
		Evidence:   evidence,
		Rationale:  rationale(ev, v, now, d.cfg.MinRelativeEffect, d.cfg.MinSamples),
	}
}

// decisionID is deterministic, so replicas and replays that reach the same
// decision about a release name it the same way.
func decisionID(releaseID string, a release.Action, v release.Verdict) string {
	id := "dec-" + releaseID + "-" + string(a)
	if a == release.ActionNone {
		id += "-" + string(v)
	}
	return strings.ReplaceAll(id, "/", "_")
}

func serviceName(r *release.Release) string {
	if ns := r.Attributes[release.AttrServiceNamespace]; ns != "" {
		return ns + "/" + r.Attributes[release.AttrServiceName]
	}
	return r.Attributes[release.AttrServiceName]
}
