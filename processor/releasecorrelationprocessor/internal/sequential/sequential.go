// Package sequential holds the statistics of regression detection: tests
// whose error guarantees hold however often they are looked at.
//
// RateTest compares the rate of an event (failed requests, slow requests,
// error logs, KPI events) in a candidate against a control, as counts arrive
// slice by slice. Conditional on the events seen in a slice, under "no
// difference" each event falls on the candidate with probability
// pi0 = n_cand / (n_cand + n_ctrl), the candidate's share of the exposure.
// If the candidate's rate is theta times the control's, that probability is
// pi(theta) = theta n_cand / (theta n_cand + n_ctrl). The likelihood ratio of
// theta against 1 over all slices, mixed over a grid of effect sizes, is a
// nonnegative supermartingale under the null, so by Ville's inequality
// P(it ever reaches 1/alpha) <= alpha: a mixture sequential probability ratio
// test (mSPRT) that may be evaluated after every slice. The traffic split may
// change from slice to slice (a rollout going from 10% to 50%).
//
// For Bernoulli data (each request fails or not) the conditional law of the
// candidate's count is hypergeometric, which is dominated in convex order by
// the binomial used here (Hoeffding, 1963), so the test stays valid, and is
// conservative when events are common.
//
// A second martingale tests the opposite null, "the candidate is worse by the
// material effect", against "no worse": reaching 1/alpha there shows the
// candidate healthy at that confidence.
package sequential

import (
	"math"
	"slices"
	"sync"
)

// Direction says which way a change is bad.
type Direction int

const (
	// Higher is bad: failures, slow requests, error logs.
	Higher Direction = iota
	// Lower is bad: orders, sign-ups.
	Lower
)

// Config parameterises a RateTest.
type Config struct {
	Direction Direction
	// MinRatio is the smallest material effect, as a ratio of rates (for
	// Lower, the reciprocal is used: 1.25 means a 20% drop).
	MinRatio float64
	// Grid are the alternative effect sizes mixed with equal weight; each
	// must be >= MinRatio. Empty means a default grid from MinRatio.
	Grid []float64
	// MinDifference is the smallest material effect in absolute rate: an
	// effect is material when it is at least MinRatio and at least
	// MinDifference, as the detector acts on it. Used by BaselineTest's
	// healthy null (a RateTest knows no rate to add it to); 0 means the
	// ratio alone.
	MinDifference float64
}

// DefaultGrid spans material effects from MinRatio to 10x. The slice is
// shared by every test of that MinRatio (thousands of them at once, one per
// signal of each release under evaluation) and must not be modified.
func DefaultGrid(minRatio float64) []float64 {
	if g, ok := defaultGrids.Load(minRatio); ok {
		return g.([]float64)
	}
	grid := []float64{minRatio}
	for _, r := range []float64{1.25, 1.5, 2, 3, 5, 10} {
		if r > minRatio*1.05 {
			grid = append(grid, r)
		}
	}
	g, _ := defaultGrids.LoadOrStore(minRatio, slices.Clip(grid))
	return g.([]float64)
}

// defaultGrids holds DefaultGrid's grids by MinRatio.
var defaultGrids sync.Map

// healthyGrid are the "no worse" alternatives of the healthy test, as
// fractions of the way from no effect to the material effect.
var healthyGrid = [...]float64{0, 0.25, 0.5}

// inlineLogs is how many log likelihood ratios a test holds without an
// allocation of its own: the default grid's, then the healthy ones. Tests
// are kept for every signal of every release under evaluation.
const inlineLogs = 10

// logs returns a test's log likelihood ratios, n of them: in buf when they
// fit.
func logs(buf *[inlineLogs]float64, n int) []float64 {
	if n <= len(buf) {
		return buf[:n:n]
	}
	return make([]float64, n)
}

// RateTest is the running state of one comparison. The zero value is not
// usable; build it with NewRateTest. It must not be copied.
type RateTest struct {
	dir  Direction
	min  float64
	grid []float64
	// logLR[k] is the log likelihood ratio of grid[k] against theta = 1,
	// and healthyLogLR[k] that of alternative healthyTheta(k) against
	// theta = min; both in lr (in buf when they fit).
	lr  []float64
	buf [inlineLogs]float64
	// maxLog is the running maximum of the regression mixture, so that a
	// verdict, once reached, is not lost to later noise.
	maxLog, maxHealthyLog float64

	// Totals over all slices.
	CandEvents, CtrlEvents     float64
	CandExposure, CtrlExposure float64
}

// NewRateTest returns a test with no data.
func NewRateTest(c Config) *RateTest {
	grid := c.Grid
	if len(grid) == 0 {
		grid = DefaultGrid(c.MinRatio)
	}
	t := &RateTest{dir: c.Direction, min: c.MinRatio, grid: grid, maxLog: math.Inf(-1), maxHealthyLog: math.Inf(-1)}
	t.lr = logs(&t.buf, len(grid)+len(healthyGrid))
	return t
}

func (t *RateTest) logLR() []float64        { return t.lr[:len(t.grid)] }
func (t *RateTest) healthyLogLR() []float64 { return t.lr[len(t.grid):] }

// healthyTheta is the k-th "no worse" alternative of the healthy test.
func (t *RateTest) healthyTheta(k int) float64 { return 1 + healthyGrid[k]*(t.min-1) }

// Observe adds one slice: events and exposure (requests, log records...) of
// the candidate and of the control over the same interval.
func (t *RateTest) Observe(candEvents, candExposure, ctrlEvents, ctrlExposure float64) {
	if candExposure <= 0 || ctrlExposure <= 0 {
		return
	}
	t.CandEvents += candEvents
	t.CtrlEvents += ctrlEvents
	t.CandExposure += candExposure
	t.CtrlExposure += ctrlExposure
	if candEvents+ctrlEvents == 0 {
		return
	}
	// For Lower, a drop in the candidate's rate is a rise in the control's
	// relative to the candidate: swap the arms.
	ec, nc, eo, no := candEvents, candExposure, ctrlEvents, ctrlExposure
	if t.dir == Lower {
		ec, nc, eo, no = ctrlEvents, ctrlExposure, candEvents, candExposure
	}
	pi0 := nc / (nc + no)
	logLR, healthyLogLR := t.logLR(), t.healthyLogLR()
	for k, theta := range t.grid {
		logLR[k] += binomialLogLR(ec, eo, piOf(theta, nc, no), pi0)
	}
	piMin := piOf(t.min, nc, no)
	for k := range healthyLogLR {
		healthyLogLR[k] += binomialLogLR(ec, eo, piOf(t.healthyTheta(k), nc, no), piMin)
	}
	t.maxLog = math.Max(t.maxLog, logMeanExp(logLR))
	t.maxHealthyLog = math.Max(t.maxHealthyLog, logMeanExp(healthyLogLR))
}

func piOf(theta, nc, no float64) float64 { return theta * nc / (theta*nc + no) }

// binomialLogLR is the log likelihood ratio of x successes in x+y trials
// under probability p against p0.
func binomialLogLR(x, y, p, p0 float64) float64 {
	return x*math.Log(p/p0) + y*math.Log((1-p)/(1-p0))
}

func logMeanExp(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, x := range xs {
		s += math.Exp(x - m)
	}
	return m + math.Log(s/float64(len(xs)))
}

// Evidence is the test's state for carrying it into another test: the
// current log likelihood-ratio mixtures (regression and healthy) and their
// running maxima.
type Evidence struct {
	Log, HealthyLog       float64
	MaxLog, MaxHealthyLog float64
	CandEvents            float64
	CandExposure          float64
}

// Evidence returns the state to carry on when the control stops serving.
func (t *RateTest) Evidence() Evidence {
	return Evidence{Log: logMeanExp(t.logLR()), HealthyLog: logMeanExp(t.healthyLogLR()),
		MaxLog: t.maxLog, MaxHealthyLog: t.maxHealthyLog, CandEvents: t.CandEvents, CandExposure: t.CandExposure}
}

// RegressionConfidence is 1 minus the always-valid p-value of "the
// candidate is no worse": 1 - 1/max(LR) over the whole run, floored at 0.
func (t *RateTest) RegressionConfidence() float64 { return confidence(t.maxLog) }

// HealthyConfidence is 1 minus the always-valid p-value of "the candidate is
// worse by at least the material effect".
func (t *RateTest) HealthyConfidence() float64 { return confidence(t.maxHealthyLog) }

func confidence(logLR float64) float64 {
	if math.IsInf(logLR, -1) || logLR <= 0 {
		return 0
	}
	return 1 - math.Exp(-logLR)
}

// Rates returns the observed rates of candidate and control.
func (t *RateTest) Rates() (cand, ctrl float64) {
	if t.CandExposure > 0 {
		cand = t.CandEvents / t.CandExposure
	}
	if t.CtrlExposure > 0 {
		ctrl = t.CtrlEvents / t.CtrlExposure
	}
	return cand, ctrl
}

// Ratio is the observed ratio of rates in the bad direction (candidate over
// control for Higher, control over candidate for Lower).
func (t *RateTest) Ratio() float64 {
	return ratio(t.dir, t.CandEvents, t.CandExposure, t.CtrlEvents, t.CtrlExposure)
}

// ratio compares two rates in the bad direction. One pseudo-event is shared
// between the sides in proportion to their exposure, so that zero counts give
// a finite answer and no events at all give 1.
func ratio(dir Direction, candEvents, candExposure, refEvents, refExposure float64) float64 {
	if candExposure == 0 || refExposure == 0 {
		return 1
	}
	n := candExposure + refExposure
	cand := (candEvents + candExposure/n) / candExposure
	ref := (refEvents + refExposure/n) / refExposure
	if dir == Lower {
		return ref / cand
	}
	return cand / ref
}
