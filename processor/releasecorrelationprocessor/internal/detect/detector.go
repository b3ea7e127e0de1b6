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
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

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
	// byService lists each (service, scope)'s arms: the versions it is
	// seen running (the inventory).
	byService map[serviceScope][]*Arm
	// newcomers are arms of a new version of an established service, not
	// yet old enough to start an implicit release.
	newcomers []*Arm
	// ring and hand pick eviction victims by the CLOCK algorithm: an arm
	// seen since the hand last passed gets a second chance, so eviction is
	// amortized O(1) and approximates least recently seen.
	ring []*Arm
	hand int
	// Evicted counts arms dropped to stay within MaxArms.
	evicted int64

	hints *hintTable

	evalMu sync.Mutex
	evals  map[string]*evaluation
	// evalByCand indexes evals by candidate series, so that a deploy
	// event finds the evaluation of its version in O(1) (a scan of every
	// evaluation per event made ingest and restarts quadratic: 40,000
	// live releases took minutes to load, issue 10's soak test).
	evalByCand map[ArmKey]*evaluation
	last       time.Time

	// series, when set, receives each evaluation's state every
	// seriesEvery (for the operator page's plots).
	series func(releaseID string, p release.SeriesPoint)
	// observed, when set, is told of implicit releases and of the end of
	// their rollouts (see implicit.go).
	observed func(ObservedChange)
	// implicitTokens rate-limits implicit releases.
	implicitTokens float64
	implicitRefill time.Time
	implicitTotal  int64

	// fleet, when set, shares evidence with the other replicas of a
	// gateway fleet, and says which releases this replica decides.
	fleet     Fleet
	fleetSelf string
	fleetMu   sync.Mutex
	fleetErr  error
}

// serviceScope is a release key: a service in its environment and scope.
type serviceScope struct {
	Service release.ServiceKey
	Scope   string
}

// seriesEvery is how often an evaluation's state is sent to the series sink.
const seriesEvery = 5 * time.Second

// SetSeriesSink sends each evaluation's state, every few seconds, to sink.
func (d *Detector) SetSeriesSink(sink func(releaseID string, p release.SeriesPoint)) { d.series = sink }

// New returns a detector that publishes decisions through publish.
func New(cfg Config, clock Clock, publish func(*release.Decision)) *Detector {
	cfg = cfg.withListDefaults()
	now := clock.Now()
	return &Detector{
		cfg: cfg, clock: clock, publish: publish,
		classifier: SpanClassifier{ServerErrorMin: int64(cfg.ServerErrorStatus), Breakdown: cfg.Breakdown,
			WatchStart: pcommon.NewTimestampFromTime(now)},
		kpis:           cfg.kpis(),
		arms:           map[ArmKey]*Arm{},
		byService:      map[serviceScope][]*Arm{},
		hints:          newHintTable(MaxHints),
		evals:          map[string]*evaluation{},
		evalByCand:     map[ArmKey]*evaluation{},
		implicitTokens: implicitBurst,
		implicitRefill: now,
	}
}

// Classifier is the span classification in force.
func (d *Detector) Classifier() SpanClassifier { return d.classifier }

// KPIs are the configured business KPIs.
func (d *Detector) KPIs() []KPI { return d.kpis }

// Now is the detector's clock.
func (d *Detector) Now() time.Time { return d.clock.Now() }

// LearnVersion remembers the version of what a versioned resource
// identifies (its pod, instance, ReplicaSet), for its unversioned signals.
func (d *Detector) LearnVersion(sk release.ServiceKey, attrs pcommon.Map, version string) {
	d.hints.Learn(sk, attrs, version)
}

// VersionHint returns the version learned for an unversioned resource, or "".
func (d *Detector) VersionHint(sk release.ServiceKey, attrs pcommon.Map) string {
	return d.hints.Version(sk, attrs)
}

// Arm returns the accumulator of a version, creating it on first use.
// label is the version as the telemetry writes it.
func (d *Detector) Arm(k ArmKey, label string) *Arm {
	d.armsMu.RLock()
	a, ok := d.arms[k]
	d.armsMu.RUnlock()
	if ok {
		return a
	}
	now := d.clock.Now()
	d.armsMu.Lock()
	defer d.armsMu.Unlock()
	if a, ok := d.arms[k]; ok {
		return a
	}
	if len(d.arms) >= d.cfg.MaxArms {
		d.evictLocked()
	}
	a = newArm(k, label, now, d.cfg.BaselineWindow)
	ss := serviceScope{k.Service, k.Scope}
	if d.cfg.ImplicitReleases && k.Version != Unversioned && d.establishedLocked(ss, now) != nil && len(d.newcomers) < maxNewcomers {
		d.newcomers = append(d.newcomers, a)
	}
	d.arms[k] = a
	d.byService[ss] = append(d.byService[ss], a)
	d.ring = append(d.ring, a)
	return a
}

// evictLocked drops an arm not seen lately and not under evaluation.
func (d *Detector) evictLocked() {
	for scanned := 0; scanned < 2*len(d.ring)+1 && len(d.ring) > 0; scanned++ {
		if d.hand >= len(d.ring) {
			d.hand = 0
		}
		a := d.ring[d.hand]
		if a.inEval.Load() || a.ref.Swap(false) {
			d.hand++
			continue
		}
		last := len(d.ring) - 1
		d.ring[d.hand], d.ring[last] = d.ring[last], nil
		d.ring = d.ring[:last]
		d.removeLocked(a)
		d.evicted++
		return
	}
}

func (d *Detector) removeLocked(a *Arm) {
	delete(d.arms, a.key)
	ss := serviceScope{a.key.Service, a.key.Scope}
	list := d.byService[ss]
	for i, x := range list {
		if x == a {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(d.byService, ss)
	} else {
		d.byService[ss] = list
	}
}

// Stats are the detector's sizes, for internal metrics.
type Stats struct {
	Arms, Evaluations, Hints int
	ArmsEvicted              int64
	ImplicitReleases         int64
}

// Stats returns the current sizes.
func (d *Detector) Stats() Stats {
	d.armsMu.RLock()
	arms, evicted, implicit := len(d.arms), d.evicted, d.implicitTotal
	d.armsMu.RUnlock()
	d.evalMu.Lock()
	evals := len(d.evals)
	d.evalMu.Unlock()
	return Stats{Arms: arms, Evaluations: evals, ArmsEvicted: evicted, Hints: d.hints.Len(), ImplicitReleases: implicit}
}

// controlChoice is the version a candidate is compared with, and why.
type controlChoice struct {
	arm   *Arm // nil when that version was not seen yet
	key   ArmKey
	label string
	// note explains a control the deploy event did not name.
	note string
}

// chooseControl picks the control of a release: the version its deploy
// event names as the previous one when that version is seen serving;
// otherwise the version seen serving most recently before now (with the
// most traffic on a tie), said in the note; otherwise the named version, in
// case it shows up. Scoped keys fall back to the unscoped telemetry seen
// before the store knew the scope.
func (d *Detector) chooseControl(r *release.Release, cand ArmKey, now time.Time) controlChoice {
	named := release.NormalizeVersion(r.Release.PreviousVersion)
	d.armsMu.RLock()
	defer d.armsMu.RUnlock()
	scopes := []string{cand.Scope}
	if cand.Scope != "" {
		scopes = append(scopes, "")
	}
	var best, unversioned *Arm
	var bestSeen time.Time
	var bestTotal float64
	for _, scope := range scopes {
		for _, a := range d.byService[serviceScope{cand.Service, scope}] {
			if a.key.Version == cand.Version {
				continue
			}
			if a.key.Version == Unversioned {
				unversioned = a
				continue
			}
			a.mu.Lock()
			seen, total := a.lastSeen, a.total+a.cur.requests
			a.mu.Unlock()
			if total == 0 || now.Sub(seen) > d.cfg.BaselineWindow {
				continue
			}
			if a.key.Version == named {
				return controlChoice{arm: a, key: ArmKey{cand.Service, cand.Scope, named}, label: r.Release.PreviousVersion}
			}
			if best == nil || seen.After(bestSeen) || seen.Equal(bestSeen) && total > bestTotal {
				best, bestSeen, bestTotal = a, seen, total
			}
		}
		if best != nil {
			break
		}
	}
	if best == nil && unversioned != nil {
		// Telemetry without service.version: the service as it ran before
		// the deploy is the control (a baseline; nothing tells the old
		// version's telemetry from the new one's afterwards).
		c := controlChoice{arm: unversioned, key: unversioned.key, label: unversioned.label,
			note: "the telemetry carries no service.version, so the service as it ran before the deploy is the control"}
		if named != "" {
			c.label = r.Release.PreviousVersion
		}
		return c
	}
	if best == nil {
		return controlChoice{key: ArmKey{cand.Service, cand.Scope, named}, label: r.Release.PreviousVersion}
	}
	c := controlChoice{arm: best, key: ArmKey{cand.Service, cand.Scope, best.key.Version}, label: best.label}
	if named != "" {
		c.note = fmt.Sprintf("%s, named as the previous version, was not seen serving; %s, seen serving before the deploy, is the control", r.Release.PreviousVersion, best.label)
	} else {
		c.note = fmt.Sprintf("the deploy named no previous version; %s, seen serving before the deploy, is the control", best.label)
	}
	return c
}

// OnRelease starts evaluating a release rolling out, and stops evaluating
// one that ended.
func (d *Detector) OnRelease(r *release.Release) {
	now := d.clock.Now()
	key := r.Key()
	cand := ArmKey{Service: key.Service, Scope: key.Scope, Version: release.NormalizeVersion(r.Version())}
	d.evalMu.Lock()
	if ev, ok := d.evals[r.ID]; ok {
		ev.rel = r
		if !r.Status.Live() {
			d.dropEval(r.ID)
		}
		d.evalMu.Unlock()
		return
	}
	// A release that ended, or started longer ago than the horizon, is not
	// evaluated.
	if !r.Status.Live() || now.Sub(r.StartedAt) > d.cfg.MaxDuration {
		d.evalMu.Unlock()
		return
	}
	// A deploy event for a version already under evaluation (an implicit
	// release seen in the telemetry first) takes its evaluation over,
	// evidence included.
	if ev := d.evalByCand[cand]; ev != nil {
		delete(d.evals, ev.rel.ID)
		ev.rel = r
		d.evals[r.ID] = ev
		d.evalMu.Unlock()
		return
	}
	d.evalMu.Unlock()

	// A release fully rolled out before we saw it started (an Argo CD
	// "deployed" notification) is still evaluated, against the baseline.
	ev := &evaluation{rel: r, cand: cand, start: now, warmEnd: now.Add(d.cfg.Warmup)}
	ev.useControl(d.chooseControl(r, cand, now))
	d.armsMu.RLock()
	if a := d.arms[cand]; a != nil {
		ev.peersCand = a.peerSnapshot()
		ev.slicesCand = a.sliceSnapshot()
		a.inEval.Store(true)
	}
	if a := d.arms[ev.ctrl]; a != nil {
		ev.slicesCtrl = a.sliceSnapshot()
		a.inEval.Store(true)
	}
	if ev.baseArm != nil {
		// Its baseline is taken at the next tick: keep it until then.
		ev.baseArm.inEval.Store(true)
	}
	d.armsMu.RUnlock()
	d.evalMu.Lock()
	if _, ok := d.evals[r.ID]; !ok {
		d.evals[r.ID] = ev
		if d.evalByCand[cand] == nil {
			d.evalByCand[cand] = ev
		}
	}
	d.evalMu.Unlock()
}

// Evaluating lists the releases under evaluation.
func (d *Detector) Evaluating() []string {
	d.evalMu.Lock()
	defer d.evalMu.Unlock()
	ids := make([]string, 0, len(d.evals))
	for id := range d.evals {
		ids = append(ids, id)
	}
	return ids
}

// Forget stops evaluating a release (one the store no longer holds).
func (d *Detector) Forget(id string) {
	d.evalMu.Lock()
	d.dropEval(id)
	d.evalMu.Unlock()
}

// dropEval ends the evaluation of a release; evalMu is held.
func (d *Detector) dropEval(id string) {
	ev, ok := d.evals[id]
	if !ok {
		return
	}
	delete(d.evals, id)
	if d.evalByCand[ev.cand] == ev {
		delete(d.evalByCand, ev.cand)
	}
}

// environmentBaselines sums the recent counts of each service, by
// environment.
func (d *Detector) environmentBaselines(arms []*Arm) map[string]map[release.ServiceKey]counts {
	out := map[string]map[release.ServiceKey]counts{}
	for _, a := range arms {
		b, _ := a.baseline()
		if b == (counts{}) {
			continue
		}
		env := out[a.key.Service.Environment]
		if env == nil {
			env = map[release.ServiceKey]counts{}
			out[a.key.Service.Environment] = env
		}
		c := env[a.key.Service]
		c.add(b)
		env[a.key.Service] = c
	}
	return out
}

// othersIn sums the baselines of an environment's services but one.
func othersIn(env map[release.ServiceKey]counts, except release.ServiceKey) sliceStat {
	var c sliceStat
	for sk, b := range env {
		if sk != except {
			c.failures += b.failures
			c.requests += b.requests
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
	d.evalMu.Lock()
	evals := make([]*evaluation, 0, len(d.evals))
	deploying := map[release.ServiceKey]bool{}
	evaluated := make(map[ArmKey]bool, 2*len(d.evals))
	for _, ev := range d.evals {
		evals = append(evals, ev)
		deploying[ev.cand.Service] = true
		evaluated[ev.cand], evaluated[ev.ctrl] = true, true
	}
	d.evalMu.Unlock()
	for _, a := range arms {
		a.inEval.Store(evaluated[a.key])
		a.rotate(now, d.cfg.BaselineWindow, evaluated[a.key])
	}
	sort.Slice(evals, func(i, j int) bool { return evals[i].rel.ID < evals[j].rel.ID })
	// In a fleet: publish this replica's interval, add the others' to the
	// releases held here; the rest are evaluated without deciding.
	held := d.exchange(now, evals)

	env := map[string]tally{}
	for _, a := range arms {
		if !deploying[a.key.Service] {
			c := env[a.key.Service.Environment]
			c.add(a.last)
			env[a.key.Service.Environment] = c
		}
	}

	var out []*release.Decision
	var finished []string
	// Baselines of every environment, made once per tick when a new
	// evaluation needs one: one pass over the arms however many start.
	var envBases map[string]map[release.ServiceKey]counts
	for _, ev := range evals {
		if !ev.snapshotted {
			if envBases == nil {
				envBases = d.environmentBaselines(arms)
			}
			ev.snapshot(&d.cfg, othersIn(envBases[ev.cand.Service.Environment], ev.cand.Service))
		}
		dec, done := d.step(ev, now, env[ev.cand.Service.Environment], held != nil && !held[ev.rel.ID])
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
			d.dropEval(id)
		}
		d.evalMu.Unlock()
	}
	d.last = now
	changes := d.implicitChanges(now, evals)
	for _, dec := range out {
		d.publish(dec)
	}
	if d.observed != nil {
		for _, ch := range changes {
			d.observed(ch)
		}
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
// whether the evaluation is over. A shadow step (a fleet replica that does
// not hold the release) gathers evidence and decides nothing.
func (d *Detector) step(ev *evaluation, now time.Time, envLast tally, shadow bool) (*release.Decision, bool) {
	cand, ctrl := d.lookup(ev.cand), d.lookup(ev.ctrl)
	if now.Before(ev.warmEnd) {
		if ctrl != nil {
			ev.ctrlWarm += ctrl.last.requests
		}
		return nil, false
	}
	if ev.mode == modeUndecided {
		if ev.baseArm == nil {
			// The control was not seen at the deploy: look again now that
			// the warm-up showed what serves.
			ev.useControl(d.chooseControl(ev.rel, ev.cand, now))
			if ev.baseArm != nil {
				ev.snapshot(&d.cfg, ev.envBase)
				ctrl = d.lookup(ev.ctrl)
			} else if ev.ctrl.Version == "" {
				// No version to compare with: a service's first release.
				return nil, true
			}
		}
		ev.setup(&d.cfg, d.kpis, ctrl, now)
		return nil, false
	}
	ev.followControl(&d.cfg, cand, ctrl, now)
	if cand != nil {
		ev.observe(&d.cfg, cand, ctrl, envLast, envLast.requests > 0)
	}
	v := ev.assess(&d.cfg, now, cand, ctrl)
	if d.series != nil && !shadow && now.Sub(ev.lastPoint) >= seriesEvery {
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
	if shadow || !d.shouldPublish(ev, v) {
		return nil, over
	}
	ev.published = append(ev.published, v.action)
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
	if slices.Contains(ev.published, v.action) {
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
	// The version actually compared with, which the deploy event may not
	// have named.
	if pv := ev.ctrlLabel; pv != "" {
		rel["previous_version"] = pv
	} else if pv := r.Release.PreviousVersion; pv != "" {
		rel["previous_version"] = pv
	}
	if r.Source == release.SourceObserved {
		rel["source"] = release.SourceObserved
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
		Rationale:  rationale(ev, v, now, d.cfg.MinRelativeEffect, d.cfg.MinSamples) + d.fleetSentence(ev),
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
