package detect

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/sequential"
)

// mode is how a release is compared.
type mode uint8

const (
	// modeUndecided: still warming up.
	modeUndecided mode = iota
	// modeConcurrent: against the previous version running at the same
	// time (canary, blue-green, rolling).
	modeConcurrent
	// modeBaseline: against the same key just before the deploy
	// (all-at-once).
	modeBaseline
)

func (m mode) String() string {
	switch m {
	case modeConcurrent:
		return "concurrent control"
	case modeBaseline:
		return "pre-deploy baseline"
	}
	return "undecided"
}

// test is what both comparison kinds offer.
type test interface {
	RegressionConfidence() float64
	HealthyConfidence() float64
	Ratio() float64
	Rates() (cand, ctrl float64)
}

// signalState is one signal of one evaluation.
type signalState struct {
	name string
	// lowerIsBad marks KPIs whose drop is the regression.
	lowerIsBad bool
	// kpi is the KPI's index (KPI signals only).
	kpi int
	// threshold is the latency bucket whose exceedance is counted (latency
	// signals only).
	threshold    int
	thresholdDur time.Duration
	test         test
	rate         *sequential.RateTest     // concurrent mode
	base         *sequential.BaselineTest // baseline mode
	// drift compares the control now with the control before the deploy,
	// to tell an outside fault from the release's own (concurrent mode).
	drift *sequential.BaselineTest
	// baseEvents/baseN are the pre-deploy baseline's events and exposure
	// for this signal, taken at setup: a concurrent comparison that loses
	// its control continues against them.
	baseEvents, baseN float64
	// candSamples/ctrlSamples are the exposures behind the test.
	candSamples, ctrlSamples float64
	// pool holds concurrent slices until both sides have exposure: pods
	// export at their own phase (every 10-60 s for metrics), so a slice
	// with data on one side only is common and must not be dropped.
	pool struct{ ce, cn, oe, on float64 }
}

// evaluation follows one release from its deploy to its verdict.
type evaluation struct {
	rel  *release.Release
	cand ArmKey
	ctrl ArmKey // Version empty when there is no previous version
	// baseArm is the control version's telemetry before the deploy (its
	// pre-deploy baseline); nil until that version is seen.
	baseArm *Arm
	// ctrlLabel is the control version as written; ctrlNote explains a
	// control the deploy event did not name.
	ctrlLabel, ctrlNote string
	// preTrend notes a service that was already degrading before the
	// deploy.
	preTrend string
	// snapshotted: the pre-deploy state was taken (on the first tick).
	snapshotted bool
	// lifecycleSent: the end of an implicit release's rollout was reported.
	lifecycleSent bool
	// switched is set when a concurrent comparison moved to the baseline
	// because the control stopped serving.
	switched bool
	mode     mode
	// ctrlLastData and ctrlMaxGap follow the control's arrivals, to tell
	// a control that stopped from one that exports every minute.
	ctrlLastData time.Time
	ctrlMaxGap   time.Duration
	start        time.Time
	warmEnd      time.Time
	ctrlWarm     float64 // control requests seen during warm-up
	// prevBase and prevHist are the baseline's counts and latency, held
	// from the first tick to the end of the warm-up only (the signals keep
	// what they need of them).
	prevBase *counts
	prevHist *Histogram
	// envBase is the failures and requests of the environment's other
	// services before the deploy.
	envBase   sliceStat
	envTest   *sequential.BaselineTest
	peersCand []peerCalls
	peersCtrl []peerCalls
	// slicesCand/slicesCtrl are the breakdown counts at the start.
	slicesCand map[string]map[string]sliceStat
	slicesCtrl map[string]map[string]sliceStat
	signals    []*signalState

	lastPoint time.Time
	pending   release.Verdict
	pendingA  release.Action
	streak    int
	// published are the actions published (a few at most).
	published []release.Action
	highest   release.Action
	verdict   release.Verdict
	// fleet names the other replicas whose statistics this replica added,
	// in a fleet (nil otherwise).
	fleet map[string]bool
}

// verdictNow is what the evidence says at one evaluation.
type verdictNow struct {
	verdict    release.Verdict
	action     release.Action
	cause      release.Cause
	confidence float64
	evidence   []release.Evidence
	causeNote  string
	worst      *signalState
	rule       int
}

func (ev *evaluation) observe(cfg *Config, cand, ctrl *Arm, envLast tally, envHasData bool) {
	for _, s := range ev.signals {
		ce, cn := s.events(cand)
		switch ev.mode {
		case modeConcurrent:
			if ctrl == nil {
				continue
			}
			oe, on := s.events(ctrl)
			p := &s.pool
			p.ce, p.cn, p.oe, p.on = p.ce+ce, p.cn+cn, p.oe+oe, p.on+on
			if p.cn <= 0 || p.on <= 0 {
				continue
			}
			s.rate.Observe(p.ce, p.cn, p.oe, p.on)
			s.drift.Observe(p.oe, p.on)
			s.candSamples += p.cn
			s.ctrlSamples += p.on
			*p = struct{ ce, cn, oe, on float64 }{}
		case modeBaseline:
			s.base.Observe(ce, cn)
			s.candSamples += cn
		}
	}
	if ev.mode == modeBaseline && envHasData && ev.envTest != nil {
		ev.envTest.Observe(envLast.failures, envLast.requests)
	}
}

// useControl sets the control version.
func (ev *evaluation) useControl(c controlChoice) {
	ev.ctrl, ev.baseArm, ev.ctrlLabel, ev.ctrlNote = c.key, c.arm, c.label, c.note
}

// snapshot takes the pre-deploy state: the control version's baseline, its
// dependencies, and whether it was already degrading. Called from the
// evaluation goroutine, which owns the arms' baselines.
func (ev *evaluation) snapshot(cfg *Config, envBase sliceStat) {
	ev.snapshotted = true
	ev.envBase = envBase
	if ev.baseArm != nil && ev.baseArm.key.Version == ev.cand.Version {
		ev.baseArm = nil
	}
	if ev.baseArm == nil {
		return
	}
	base, hist := ev.baseArm.baseline()
	ev.prevBase, ev.prevHist = &base, &hist
	ev.peersCtrl = ev.baseArm.peerSnapshot()
	ev.preTrend = ev.baseArm.trend(cfg)
}

// controlGone is how long a concurrent control may send nothing, while the
// candidate serves, before it is taken to have stopped (three times its
// longest gap so far, for controls that export every minute).
const controlGone = 20 * time.Second

// recentlyServing: a control seen this recently at the end of the warm-up
// is taken to serve next to the candidate.
const recentlyServing = 90 * time.Second

// followControl notes the control's arrivals and, when it has stopped while
// the candidate serves (old pods drained, or the rollout reached 100%),
// moves the comparison to the pre-deploy baseline.
func (ev *evaluation) followControl(cfg *Config, cand, ctrl *Arm, now time.Time) {
	if ev.mode != modeConcurrent {
		return
	}
	if ctrl != nil && ctrl.last.requests > 0 {
		if gap := now.Sub(ev.ctrlLastData); !ev.ctrlLastData.IsZero() && gap > ev.ctrlMaxGap {
			ev.ctrlMaxGap = gap
		}
		ev.ctrlLastData = now
		return
	}
	if cand == nil || cand.last.requests == 0 || now.Sub(ev.ctrlLastData) <= max(controlGone, 3*ev.ctrlMaxGap) {
		return
	}
	ev.switchToBaseline(cfg)
}

// switchToBaseline continues every signal against the pre-deploy baseline,
// carrying the concurrent evidence (see sequential.BaselineTest.Carry).
func (ev *evaluation) switchToBaseline(cfg *Config) {
	ev.mode, ev.switched = modeBaseline, true
	for _, s := range ev.signals {
		rc := sequential.Config{Direction: sequential.Higher, MinRatio: 1 + cfg.MinRelativeEffect, MinDifference: cfg.MinAbsoluteEffect}
		if s.lowerIsBad {
			rc.Direction = sequential.Lower
		}
		be, bn := s.baseEvents, s.baseN
		s.base = sequential.NewBaselineTest(rc, be, bn)
		s.base.Carry(s.rate.Evidence())
		// The candidate's slices held back waiting for the control.
		s.base.Observe(s.pool.ce, s.pool.cn)
		s.candSamples += s.pool.cn
		s.test = s.base
		s.ctrlSamples = bn
		s.pool = struct{ ce, cn, oe, on float64 }{}
	}
	ev.buildEnvTest(cfg)
}

func (ev *evaluation) buildEnvTest(cfg *Config) {
	if ev.envBase.requests > 0 {
		rc := sequential.Config{Direction: sequential.Higher, MinRatio: 1 + cfg.MinRelativeEffect, MinDifference: cfg.MinAbsoluteEffect}
		ev.envTest = sequential.NewBaselineTest(rc, ev.envBase.failures, ev.envBase.requests)
	}
}

// events returns the signal's events and exposure in an arm's last slice.
func (s *signalState) events(a *Arm) (float64, float64) {
	switch {
	case s.name == release.SignalErrorRate:
		return a.last.failures, a.last.requests
	case s.name == release.SignalLogErrorRate:
		return a.last.logErrors, a.last.logs
	case s.kpi >= 0:
		return a.lastKPIOf(s.kpi), a.last.requests
	}
	if a.lastHist == nil {
		return 0, a.last.requests
	}
	return float64(a.lastHist.above(s.threshold)), a.last.requests
}

// baselineEvents returns the signal's events and exposure in a baseline.
func (s *signalState) baselineEvents(b *counts, h *Histogram) (float64, float64) {
	var c counts
	if b != nil {
		c = *b
	}
	switch {
	case s.name == release.SignalErrorRate:
		return c.failures, c.requests
	case s.name == release.SignalLogErrorRate:
		return c.logErrors, c.logs
	case s.kpi >= 0:
		return c.kpi[s.kpi], c.requests
	}
	if h == nil {
		return 0, 0
	}
	return float64(h.Above(s.threshold)), float64(h.Total())
}

// setup chooses the comparison at the end of warm-up and builds the tests:
// against the control running at the same time when it served during the
// warm-up (and the deploy is not all-at-once), else against the control's
// pre-deploy baseline.
func (ev *evaluation) setup(cfg *Config, kpis []KPI, ctrl *Arm, now time.Time) {
	ev.mode = modeBaseline
	if ev.rel.Release.Strategy != release.StrategyAllAtOnce && ev.ctrl.Version != "" && ctrl != nil {
		// A control that exports metrics every minute may send nothing in
		// the warm-up and still serve.
		seen := ctrl.seen()
		if ev.ctrlWarm > 0 || now.Sub(seen) <= recentlyServing {
			ev.mode, ev.ctrlLastData = modeConcurrent, seen
		}
	}
	// Latency thresholds are the control's quantiles: the concurrent
	// control's recent latency, or the pre-deploy baseline's.
	var ref Histogram
	if ev.mode == modeConcurrent {
		ref = ctrl.windowHist()
	} else if ev.prevHist != nil {
		ref = *ev.prevHist
	}
	// One allocation for all the signals' states.
	states := make([]signalState, 0, 2+len(cfg.LatencyQuantiles)+len(kpis))
	states = append(states, signalState{name: release.SignalErrorRate, kpi: -1})
	for _, q := range cfg.LatencyQuantiles {
		if b := ref.QuantileBucket(q); b >= 0 {
			states = append(states, signalState{name: latencySignal(q), kpi: -1, threshold: b, thresholdDur: lowerBound(b + 1)})
		}
	}
	states = append(states, signalState{name: release.SignalLogErrorRate, kpi: -1})
	for i, k := range kpis {
		states = append(states, signalState{name: release.KPISignal(k.Name), kpi: i, lowerIsBad: k.LowerIsBad})
	}
	ev.signals = slices.Grow(ev.signals, len(states))
	for i := range states {
		s := &states[i]
		rc := sequential.Config{Direction: sequential.Higher, MinRatio: 1 + cfg.MinRelativeEffect, MinDifference: cfg.MinAbsoluteEffect}
		if s.lowerIsBad {
			rc.Direction = sequential.Lower
		}
		be, bn := s.baselineEvents(ev.prevBase, ev.prevHist)
		s.baseEvents, s.baseN = be, bn
		if ev.mode == modeConcurrent {
			s.rate = sequential.NewRateTest(rc)
			s.test = s.rate
			s.drift = sequential.NewBaselineTest(rc, be, bn)
		} else {
			s.base = sequential.NewBaselineTest(rc, be, bn)
			s.test = s.base
			s.ctrlSamples = bn
		}
		ev.signals = append(ev.signals, s)
	}
	if ev.mode == modeBaseline {
		ev.buildEnvTest(cfg)
	}
	ev.prevBase, ev.prevHist = nil, nil
}

// latencyNames holds the latency signals' names by quantile, shared by
// every evaluation.
var latencyNames sync.Map

func latencySignal(q float64) string {
	if n, ok := latencyNames.Load(q); ok {
		return n.(string)
	}
	n, _ := latencyNames.LoadOrStore(q, release.LatencySignal(q))
	return n.(string)
}

// assess turns the evidence into a verdict, cause and action.
func (ev *evaluation) assess(cfg *Config, now time.Time, cand, ctrl *Arm) verdictNow {
	v := verdictNow{verdict: release.VerdictInconclusive, action: release.ActionNone, cause: release.CauseUnknown, rule: -1}
	var active []*signalState
	for _, s := range ev.signals {
		// A signal needs exposure on both sides, and some events: with none
		// at all it carries no evidence either way.
		candRate, ctrlRate := s.test.Rates()
		if s.candSamples > 0 && s.ctrlSamples > 0 && candRate+ctrlRate > 0 {
			active = append(active, s)
		}
	}
	errSig := ev.signal(release.SignalErrorRate)
	enough := errSig != nil && errSig.candSamples >= float64(cfg.MinSamples) && errSig.ctrlSamples >= float64(cfg.MinSamples)
	if !enough {
		if now.Sub(ev.warmEnd) >= cfg.HoldAfter {
			v.action = release.ActionHold
		}
		return v
	}
	m := float64(len(active))
	window := release.Window{Start: ev.warmEnd, End: now}
	bestConf, healthyConf := 0.0, 1.0
	for _, s := range active {
		conf := adjust(s.test.RegressionConfidence(), m)
		// "Healthy" claims every signal is fine: an intersection-union
		// test, valid at each signal's own level without correction.
		hconf := s.test.HealthyConfidence()
		candRate, ctrlRate := s.test.Rates()
		ratio := s.test.Ratio()
		e := release.Evidence{
			Signal: s.name, Control: round(ctrlRate), Candidate: round(candRate), Effect: round(ratio),
			Confidence: floorConfidence(conf), Samples: release.Samples{Control: int64(s.ctrlSamples), Candidate: int64(s.candSamples)},
			Window: window,
		}
		worse := candRate - ctrlRate
		if s.lowerIsBad {
			worse = -worse
		}
		material := ratio >= 1+cfg.MinRelativeEffect && worse >= cfg.MinAbsoluteEffect
		if material && conf > bestConf {
			bestConf, v.worst = conf, s
		}
		if s.name == release.SignalErrorRate && cand != nil {
			e.Exemplars = cand.Exemplars()
			e.Slices = ev.worstSlices(cand, ctrl)
		}
		v.evidence = append(v.evidence, e)
		healthyConf = math.Min(healthyConf, hconf)
	}
	// The strongest material signal first: it is what the decision is about.
	sort.SliceStable(v.evidence, func(i, j int) bool {
		return v.worst != nil && v.evidence[i].Signal == v.worst.name && v.evidence[j].Signal != v.worst.name
	})
	if v.worst != nil {
		v.cause, v.causeNote = ev.cause(v.worst, cand, ctrl)
		action, rule := actionFor(cfg.Policy, ev.cand.Service, v.cause, bestConf)
		if action != release.ActionNone {
			v.verdict, v.action, v.confidence, v.rule = release.VerdictRegression, action, bestConf, rule
			return v
		}
	}
	if healthyConf >= 0.95 && len(active) > 0 {
		v.verdict, v.confidence, v.cause = release.VerdictHealthy, healthyConf, release.CauseUnknown
		return v
	}
	v.confidence = math.Max(bestConf, healthyConf)
	return v
}

// point is the evaluation's state now, for the series.
func (ev *evaluation) point(now time.Time) release.SeriesPoint {
	p := release.SeriesPoint{At: now.UTC()}
	for _, s := range ev.signals {
		cand, ctrl := s.test.Rates()
		p.Signals = append(p.Signals, release.SignalPoint{
			Signal: s.name, Candidate: round(cand), Control: round(ctrl),
			CandidateSamples: int64(s.candSamples), ControlSamples: int64(s.ctrlSamples),
			Confidence: round(s.test.RegressionConfidence()),
		})
	}
	return p
}

func (ev *evaluation) signal(name string) *signalState {
	for _, s := range ev.signals {
		if s.name == name {
			return s
		}
	}
	return nil
}

// cause applies the documented rules, in order. "Comparable" compares
// absolute increases: an outage adds about the same failure rate to every
// service it hits, whatever each one's usual rate.
//  1. concurrent control: the control itself degraded against its own
//     pre-deploy baseline by at least half the candidate's increase over it
//     -> exogenous (unknown while that is seen but not yet confident);
//  2. the candidate's failures sit mostly (>= 50%) in client calls to one
//     dependency that also fails for the control at >= half the candidate's
//     rate -> exogenous;
//  3. pre-deploy baseline: services in the same environment that are not
//     deploying degraded at the same time by at least half the candidate's
//     increase -> exogenous (unknown while not yet confident); with no such
//     services to compare with -> unknown;
//  4. otherwise endogenous.
func (ev *evaluation) cause(worst *signalState, cand, ctrl *Arm) (release.Cause, string) {
	candRate, ctrlRate := worst.test.Rates()
	if ev.mode == modeConcurrent && worst.drift != nil {
		now, before := worst.drift.Rates()
		if comparable(now-before, candRate-before, worst.lowerIsBad) {
			note := fmt.Sprintf("the control degraded at the same time (%s before the deploy, %s now)", pct(before), pct(now))
			if worst.drift.RegressionConfidence() >= 0.95 {
				return release.CauseExogenous, note
			}
			return release.CauseUnknown, note + ", not yet conclusively"
		}
	}
	if worst.name == release.SignalErrorRate && cand != nil {
		if peer, note, ok := ev.dependency(cand, ctrl); ok {
			return release.CauseExogenous, fmt.Sprintf("its failures are calls to %s, which fail for the previous version too (%s)", peer, note)
		}
	}
	if ev.mode == modeBaseline {
		if ev.envTest == nil || ev.envTest.CandExposure == 0 {
			return ev.aloneCause(worst, cand)
		}
		now, before := ev.envTest.Rates()
		if worst.name == release.SignalErrorRate && comparable(now-before, candRate-ctrlRate, false) {
			note := fmt.Sprintf("services in %s that were not deployed degraded at the same time (%s before, %s now)",
				ev.cand.Service.Environment, pct(before), pct(now))
			if ev.envTest.RegressionConfidence() >= 0.95 {
				return release.CauseExogenous, note
			}
			return release.CauseUnknown, note + ", not yet conclusively"
		}
	}
	return release.CauseEndogenous, ""
}

// aloneCause judges a service with no other service in its environment to
// compare with, on its own evidence: its dependencies (do its failures sit
// in calls that fail more than before the deploy?) and its pre-deploy
// baseline (was it already degrading?). The verdict does not depend on
// whether unrelated services happen to send telemetry.
func (ev *evaluation) aloneCause(worst *signalState, cand *Arm) (release.Cause, string) {
	const missing = "no other service in the environment to compare with"
	if ev.preTrend != "" {
		return release.CauseUnknown, missing + ", and " + ev.preTrend
	}
	if worst.name == release.SignalErrorRate && cand != nil {
		if peer, note, ok := ev.dependencyWorse(cand); ok {
			return release.CauseUnknown, fmt.Sprintf("%s; its failures are calls to %s, which fail more than before the deploy (%s)", missing, peer, note)
		}
	}
	return release.CauseEndogenous, missing + "; it was steady before the deploy and its dependencies do not explain the change"
}

// dependencyWorse finds a dependency that holds most of the candidate's
// failures and fails more now than it did for the control before the
// deploy.
func (ev *evaluation) dependencyWorse(cand *Arm) (string, string, bool) {
	errSig := ev.signal(release.SignalErrorRate)
	if errSig == nil || errSig.base == nil || errSig.base.CandEvents == 0 {
		return "", "", false
	}
	for _, d := range ev.failingPeers(cand, errSig.base.CandEvents) {
		before := peerCount(ev.peersCtrl, d.peer)
		cr, br := d.failures/d.calls, 0.0
		if before.calls > 0 {
			br = before.failures / before.calls
		}
		if cr > 2*br {
			return d.peer, fmt.Sprintf("%s of calls now, %s before", pct(cr), pct(br)), true
		}
	}
	return "", "", false
}

// failingPeers lists, by name, the dependencies whose failed calls since the
// deploy are at least half of the candidate's failures.
func (ev *evaluation) failingPeers(cand *Arm, candFail float64) []peerCalls {
	var out []peerCalls
	for _, c := range cand.peerSnapshot() {
		before := peerCount(ev.peersCand, c.peer)
		c.calls -= before.calls
		c.failures -= before.failures
		if c.calls > 0 && c.failures >= 0.5*candFail {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].peer < out[j].peer })
	return out
}

// comparable reports whether an outside increase is at least half the
// candidate's (both in the bad direction).
func comparable(outside, candidate float64, lowerIsBad bool) bool {
	if lowerIsBad {
		outside, candidate = -outside, -candidate
	}
	return candidate > 0 && outside >= 0.5*candidate
}

// dependency finds a dependency that explains the candidate's failures.
func (ev *evaluation) dependency(cand, ctrl *Arm) (string, string, bool) {
	errSig := ev.signal(release.SignalErrorRate)
	if errSig == nil || ctrl == nil || ev.mode != modeConcurrent {
		return "", "", false
	}
	candFail := errSig.rate.CandEvents
	if candFail == 0 {
		return "", "", false
	}
	op := ctrl.peerSnapshot()
	for _, d := range ev.failingPeers(cand, candFail) {
		p, c := d.peer, d.peerStat
		o, before := peerCount(op, p), peerCount(ev.peersCtrl, p)
		o.calls -= before.calls
		o.failures -= before.failures
		if o.calls == 0 {
			continue
		}
		cr, or := c.failures/c.calls, o.failures/o.calls
		if o.failures > 0 && or >= 0.5*cr {
			return p, fmt.Sprintf("%s of its calls fail, %s for the previous version", pct(cr), pct(or)), true
		}
	}
	return "", "", false
}

// worstSlices names the breakdown values where the candidate's failures
// most exceed what the control's failure rate in the same slice predicts
// (at most five, across dimensions). A slice holding nearly all of the
// candidate's requests says nothing about who is hurt and is left out.
func (ev *evaluation) worstSlices(cand, ctrl *Arm) []release.Slice {
	if cand == nil || ev.mode != modeConcurrent || ctrl == nil {
		return nil
	}
	cs, os := cand.sliceSnapshot(), ctrl.sliceSnapshot()
	type scored struct {
		release.Slice
		excess float64
	}
	var list []scored
	for dim, vals := range cs {
		var total float64
		for v, c := range vals {
			total += c.requests - ev.slicesCand[dim][v].requests
		}
		for v, c := range vals {
			c.requests -= ev.slicesCand[dim][v].requests
			c.failures -= ev.slicesCand[dim][v].failures
			o := os[dim][v]
			o.requests -= ev.slicesCtrl[dim][v].requests
			o.failures -= ev.slicesCtrl[dim][v].failures
			if c.requests <= 0 || o.requests <= 0 || c.requests >= 0.95*total {
				continue
			}
			cr, or := c.failures/c.requests, o.failures/o.requests
			if excess := c.failures - c.requests*or; excess > 0 {
				list = append(list, scored{release.Slice{Dimension: dim, Value: v, Control: round(or), Candidate: round(cr)}, excess})
			}
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].excess != list[j].excess {
			return list[i].excess > list[j].excess
		}
		return list[i].Dimension+list[i].Value < list[j].Dimension+list[j].Value
	})
	var out []release.Slice
	for i := 0; i < len(list) && i < 5; i++ {
		out = append(out, list[i].Slice)
	}
	return out
}

// adjust applies a Bonferroni correction for m signals tested together.
func adjust(conf, m float64) float64 {
	if m <= 1 {
		return conf
	}
	return math.Max(0, 1-m*(1-conf))
}

func round(x float64) float64 { return math.Round(x*10000) / 10000 }

// floorConfidence keeps 4 decimals and never reports certainty (1 - 1/LR
// is exactly 1 in floating point once the evidence is overwhelming).
func floorConfidence(c float64) float64 { return math.Min(math.Floor(c*10000)/10000, 0.9999) }

// confidencePct renders a confidence without ever claiming certainty.
func confidencePct(c float64) string {
	if c >= 0.999 {
		return ">99.9%"
	}
	return fmt.Sprintf("%.1f%%", math.Floor(1000*c)/10)
}

func pct(x float64) string {
	switch {
	case x == 0:
		return "0%"
	case x < 0.001:
		return fmt.Sprintf("%.3f%%", 100*x)
	case x < 0.1:
		return fmt.Sprintf("%.1f%%", 100*x)
	}
	return fmt.Sprintf("%.0f%%", 100*x)
}
