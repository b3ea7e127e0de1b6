package sequential

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// plainRate and plainBaseline are the tests' statistics as they were
// computed with a slice per quantity: the reference the inline storage
// must reproduce bit for bit.
type plainRate struct {
	dir                        Direction
	min                        float64
	grid, logLR                []float64
	healthyTheta, healthyLogLR []float64
	maxLog, maxHealthyLog      float64
	candEvents, candExposure   float64
}

func newPlainRate(c Config, grid []float64) *plainRate {
	t := &plainRate{dir: c.Direction, min: c.MinRatio, grid: grid, logLR: make([]float64, len(grid)),
		maxLog: math.Inf(-1), maxHealthyLog: math.Inf(-1)}
	for _, f := range healthyGrid {
		t.healthyTheta = append(t.healthyTheta, 1+f*(c.MinRatio-1))
	}
	t.healthyLogLR = make([]float64, len(t.healthyTheta))
	return t
}

func (t *plainRate) observe(candEvents, candExposure, ctrlEvents, ctrlExposure float64) {
	if candExposure <= 0 || ctrlExposure <= 0 || candEvents+ctrlEvents == 0 {
		return
	}
	ec, nc, eo, no := candEvents, candExposure, ctrlEvents, ctrlExposure
	if t.dir == Lower {
		ec, nc, eo, no = ctrlEvents, ctrlExposure, candEvents, candExposure
	}
	pi0 := nc / (nc + no)
	for k, theta := range t.grid {
		t.logLR[k] += binomialLogLR(ec, eo, piOf(theta, nc, no), pi0)
	}
	piMin := piOf(t.min, nc, no)
	for k, theta := range t.healthyTheta {
		t.healthyLogLR[k] += binomialLogLR(ec, eo, piOf(theta, nc, no), piMin)
	}
	t.maxLog = math.Max(t.maxLog, logMeanExp(t.logLR))
	t.maxHealthyLog = math.Max(t.maxHealthyLog, logMeanExp(t.healthyLogLR))
}

type plainBaseline struct {
	null, healthyNull        float64
	grid, logLR              []float64
	healthyAlt, healthyLogLR []float64
	maxLog, maxHealthy       float64
	dir                      Direction
}

func newPlainBaseline(c Config, grid []float64, events, exposure float64) *plainBaseline {
	ref := NewBaselineTest(Config{Direction: c.Direction, MinRatio: c.MinRatio, MinDifference: c.MinDifference, Grid: grid}, events, exposure)
	t := &plainBaseline{null: ref.null, healthyNull: ref.healthyNull, grid: grid, logLR: make([]float64, len(grid)),
		maxLog: math.Inf(-1), maxHealthy: math.Inf(-1), dir: c.Direction}
	rate := events / math.Max(exposure, 1)
	if c.Direction == Higher {
		rate = math.Max(rate, 0.5/math.Max(exposure, 1))
	}
	for _, f := range healthyGrid {
		t.healthyAlt = append(t.healthyAlt, rate+f*(t.healthyNull-rate))
	}
	t.healthyLogLR = make([]float64, len(t.healthyAlt))
	return t
}

func (t *plainBaseline) observe(events, exposure float64) {
	if exposure <= 0 {
		return
	}
	for k, theta := range t.grid {
		alt := t.null * theta
		if t.dir == Lower {
			alt = t.null / theta
		}
		t.logLR[k] += poissonLogLR(events, exposure, alt, t.null)
	}
	for k, alt := range t.healthyAlt {
		t.healthyLogLR[k] += poissonLogLR(events, exposure, alt, t.healthyNull)
	}
	t.maxLog = math.Max(t.maxLog, logMeanExp(t.logLR))
	t.maxHealthy = math.Max(t.maxHealthy, logMeanExp(t.healthyLogLR))
}

// The tests keep their likelihood ratios inline (or, past the default
// grid's size, in a slice of their own) and agree bit for bit with the
// plain computation, for both directions, default and long grids.
func TestInlineStorageMatchesPlain(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	long := []float64{1.2, 1.3, 1.5, 1.7, 2, 2.5, 3, 4, 6, 10}
	for run := range 40 {
		c := Config{Direction: Direction(run % 2), MinRatio: 1.1 + r.Float64(), MinDifference: 0.002}
		grid := DefaultGrid(c.MinRatio)
		if run%4 >= 2 {
			c.Grid, grid = long, long
		}
		rate, prate := NewRateTest(c), newPlainRate(c, grid)
		be, bn := float64(r.IntN(50)), float64(1000+r.IntN(10000))
		base, pbase := NewBaselineTest(c, be, bn), newPlainBaseline(c, grid, be, bn)
		if len(grid) > inlineLogs-len(healthyGrid) {
			require.NotSame(t, &rate.buf[0], &rate.lr[0])
		} else {
			require.Same(t, &rate.buf[0], &rate.lr[0], "the ratios are kept inline")
			require.Same(t, &base.buf[0], &base.lr[0], "the ratios are kept inline")
		}
		p := 0.001 + 0.05*r.Float64()
		for range 300 {
			nc, no := float64(r.IntN(500)), float64(r.IntN(500))
			ec, eo := binomial(r, nc, p*(1+r.Float64())), binomial(r, no, p)
			rate.Observe(ec, nc, eo, no)
			prate.observe(ec, nc, eo, no)
			base.Observe(ec, nc)
			pbase.observe(ec, nc)
			same(t, []float64{prate.maxLog, prate.maxHealthyLog}, []float64{rate.maxLog, rate.maxHealthyLog})
			same(t, prate.logLR, rate.logLR())
			same(t, prate.healthyLogLR, rate.healthyLogLR())
			same(t, []float64{pbase.maxLog, pbase.maxHealthy}, []float64{base.maxLog, base.maxHealthy})
			same(t, append(append([]float64(nil), pbase.logLR...), pbase.healthyLogLR...), base.lr)
		}
	}
}

// same compares bit for bit (NaN included).
func same(t *testing.T, want, got []float64) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, math.Float64bits(want[i]), math.Float64bits(got[i]), "element %d: %v, want %v", i, got[i], want[i])
	}
}
