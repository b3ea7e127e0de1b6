package sequential

import "math"

// BaselineTest compares a candidate's event rate with a fixed baseline rate
// (an all-at-once deploy has no concurrent control: the same service just
// before the deploy stands in for it). The baseline's own uncertainty is
// taken into account conservatively: the null is the baseline rate's upper
// (for Higher) or lower (for Lower) confidence bound. Candidate events in a
// slice are Poisson with mean rate x exposure; the mixture over the grid of
// likelihood ratios of theta x null against the null is a nonnegative
// supermartingale whenever the true rate is no worse than the null, so the
// guarantee of RateTest holds here too.
//
// It must not be copied.
type BaselineTest struct {
	dir         Direction
	min         float64
	grid        []float64
	null        float64
	healthyNull float64
	// lr holds the log likelihood ratios: one per grid point, then one per
	// healthy alternative (in buf when they fit).
	lr  []float64
	buf [inlineLogs]float64
	// healthyAlt are the healthy test's alternatives: the baseline rate (no
	// effect) and rates part of the way from it to healthyNull.
	healthyAlt [len(healthyGrid)]float64
	maxLog     float64
	maxHealthy float64
	// prior and priorHealthy are the log likelihood ratios carried from a
	// test that ran before this one (see Carry).
	prior, priorHealthy float64

	BaselineEvents, BaselineExposure float64
	CandEvents, CandExposure         float64
}

// baselineZ is the one-sided normal quantile of the baseline bound (99.9%).
const baselineZ = 3.09

// NewBaselineTest returns a test of a candidate against a baseline that had
// events out of exposure.
func NewBaselineTest(c Config, baselineEvents, baselineExposure float64) *BaselineTest {
	grid := c.Grid
	if len(grid) == 0 {
		grid = DefaultGrid(c.MinRatio)
	}
	t := &BaselineTest{dir: c.Direction, min: c.MinRatio, grid: grid,
		maxLog: math.Inf(-1), maxHealthy: math.Inf(-1), BaselineEvents: baselineEvents, BaselineExposure: baselineExposure}
	lo, hi := wilson(baselineEvents, baselineExposure, baselineZ)
	rate := baselineEvents / math.Max(baselineExposure, 1)
	// A baseline with no events at all still bounds the rate: at most about
	// 3 events per its exposure (the rule of three), and never zero.
	hi = math.Max(hi, 3/math.Max(baselineExposure, 1))
	// The healthy null is the smallest material effect: MinRatio and
	// MinDifference away from the baseline rate, whichever is further.
	if c.Direction == Higher {
		t.null = hi
		rate = math.Max(rate, 0.5/math.Max(baselineExposure, 1))
		t.healthyNull = math.Max(rate*c.MinRatio, rate+c.MinDifference)
	} else {
		t.null = math.Max(lo, 1e-12)
		t.healthyNull = rate / c.MinRatio
		if d := rate - c.MinDifference; d > 0 {
			t.healthyNull = math.Min(t.healthyNull, d)
		}
	}
	for k, f := range healthyGrid {
		t.healthyAlt[k] = rate + f*(t.healthyNull-rate)
	}
	t.lr = logs(&t.buf, len(grid)+len(healthyGrid))
	return t
}

// wilson is the Wilson score interval of a proportion.
func wilson(x, n, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	p := x / n
	d := 1 + z*z/n
	c := (p + z*z/(2*n)) / d
	h := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n)) / d
	return math.Max(0, c-h), math.Min(1, c+h)
}

// Carry continues the evidence of a concurrent comparison whose control
// stopped serving (old pods drained, or the rollout reached 100%). The
// concurrent likelihood ratio at the switch, times this test's from then
// on, is still a nonnegative supermartingale under "the release made
// nothing worse" (each factor is one given the past), so Ville's
// inequality holds for the product and no evidence is thrown away. The
// candidate's counts so far join its rate estimate.
func (t *BaselineTest) Carry(e Evidence) {
	t.prior, t.priorHealthy = e.Log, e.HealthyLog
	t.maxLog = math.Max(t.maxLog, e.MaxLog)
	t.maxHealthy = math.Max(t.maxHealthy, e.MaxHealthyLog)
	t.CandEvents += e.CandEvents
	t.CandExposure += e.CandExposure
}

// Observe adds the candidate's events and exposure of one slice.
func (t *BaselineTest) Observe(events, exposure float64) {
	if exposure <= 0 {
		return
	}
	t.CandEvents += events
	t.CandExposure += exposure
	logLR, healthyLogLR := t.lr[:len(t.grid)], t.lr[len(t.grid):]
	for k, theta := range t.grid {
		logLR[k] += poissonLogLR(events, exposure, t.alt(t.null, theta), t.null)
	}
	for k, alt := range t.healthyAlt {
		// Healthy: the candidate's rate is at the baseline or between it
		// and the material effect, against the material effect.
		healthyLogLR[k] += poissonLogLR(events, exposure, alt, t.healthyNull)
	}
	t.maxLog = math.Max(t.maxLog, t.prior+logMeanExp(logLR))
	t.maxHealthy = math.Max(t.maxHealthy, t.priorHealthy+logMeanExp(healthyLogLR))
}

func (t *BaselineTest) alt(null, theta float64) float64 {
	if t.dir == Lower {
		return null / theta
	}
	return null * theta
}

// poissonLogLR is the log likelihood ratio of x events in exposure n at
// rate r against rate r0.
func poissonLogLR(x, n, r, r0 float64) float64 {
	return x*math.Log(r/r0) - n*(r-r0)
}

// RegressionConfidence: see RateTest.
func (t *BaselineTest) RegressionConfidence() float64 { return confidence(t.maxLog) }

// HealthyConfidence: see RateTest.
func (t *BaselineTest) HealthyConfidence() float64 { return confidence(t.maxHealthy) }

// Rates returns the candidate's and the baseline's observed rates.
func (t *BaselineTest) Rates() (cand, base float64) {
	if t.CandExposure > 0 {
		cand = t.CandEvents / t.CandExposure
	}
	if t.BaselineExposure > 0 {
		base = t.BaselineEvents / t.BaselineExposure
	}
	return cand, base
}

// Ratio is the observed ratio in the bad direction; see ratio.
func (t *BaselineTest) Ratio() float64 {
	return ratio(t.dir, t.CandEvents, t.CandExposure, t.BaselineEvents, t.BaselineExposure)
}
