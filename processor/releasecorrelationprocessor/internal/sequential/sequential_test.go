package sequential

import (
	"math"
	"math/rand/v2"
	"testing"
)

// poisson draws a Poisson variate (Knuth for small means, normal
// approximation above 50).
func poisson(r *rand.Rand, mean float64) float64 {
	if mean <= 0 {
		return 0
	}
	if mean > 50 {
		return math.Max(0, math.Round(mean+math.Sqrt(mean)*r.NormFloat64()))
	}
	l, k, p := math.Exp(-mean), 0.0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// binomial draws Binomial(n, p) by a normal approximation for large n and
// direct sampling otherwise.
func binomial(r *rand.Rand, n, p float64) float64 {
	if n*p*(1-p) > 30 {
		return math.Min(n, math.Max(0, math.Round(n*p+math.Sqrt(n*p*(1-p))*r.NormFloat64())))
	}
	x := 0.0
	for i := 0; i < int(n); i++ {
		if r.Float64() < p {
			x++
		}
	}
	return x
}

type arm struct{ rps, rate float64 }

// run simulates one comparison for seconds, one slice per second, looking
// after every slice, and returns the first second at which the regression
// confidence reached level (or -1).
func run(r *rand.Rand, cfg Config, cand, ctrl arm, seconds int, level float64, bernoulli bool) int {
	t := NewRateTest(cfg)
	for s := 1; s <= seconds; s++ {
		nc, no := poisson(r, cand.rps), poisson(r, ctrl.rps)
		var ec, eo float64
		if bernoulli {
			ec, eo = binomial(r, nc, cand.rate), binomial(r, no, ctrl.rate)
		} else {
			ec, eo = poisson(r, nc*cand.rate), poisson(r, no*ctrl.rate)
		}
		t.Observe(ec, nc, eo, no)
		if t.RegressionConfidence() >= level {
			return s
		}
	}
	return -1
}

// TestFalsePositiveRateUnderContinuousLooking is the test's guarantee: with
// no difference, looking after every one of 600 slices, the regression
// confidence reaches 1-alpha in at most alpha of runs. A fixed-sample test
// evaluated this often would exceed alpha many times over.
func TestFalsePositiveRateUnderContinuousLooking(t *testing.T) {
	const runs, alpha = 400, 0.05
	cases := []struct {
		name       string
		cand, ctrl arm
		bernoulli  bool
	}{
		{"rare errors, 10% canary", arm{20, 0.01}, arm{180, 0.01}, false},
		{"no errors at all in control", arm{20, 0}, arm{180, 0}, false},
		{"common events (p50 latency share), 50/50", arm{50, 0.5}, arm{50, 0.5}, true},
		{"bursty 5% errors", arm{5, 0.05}, arm{500, 0.05}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			fp := 0
			for i := 0; i < runs; i++ {
				if run(r, Config{Direction: Higher, MinRatio: 1.1}, tc.cand, tc.ctrl, 600, 1-alpha, tc.bernoulli) >= 0 {
					fp++
				}
			}
			// Binomial(400, 0.05) exceeds 32 with probability < 0.1%.
			if fp > 32 {
				t.Fatalf("%d of %d null runs reached confidence %.2f; the guarantee is at most %.0f", fp, runs, 1-alpha, alpha*runs)
			}
			t.Logf("%d/%d false positives at alpha %.2f", fp, runs, alpha)
		})
	}
}

// TestPower checks the targets on the statistics alone: 1% -> 5%
// errors at 20 req/s of candidate traffic is found at 0.99 confidence within
// 30 s of telemetry in most runs, and 2x error rate within 10 minutes.
func TestPower(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var times []int
	missed := 0
	for i := 0; i < 200; i++ {
		s := run(r, Config{Direction: Higher, MinRatio: 1.2}, arm{20, 0.05}, arm{180, 0.01}, 600, 0.99, true)
		if s < 0 {
			missed++
			continue
		}
		times = append(times, s)
	}
	if missed > 0 {
		t.Fatalf("1%% -> 5%%: missed %d of 200", missed)
	}
	med := median(times)
	if med > 30 {
		t.Fatalf("1%% -> 5%%: median time to 0.99 confidence %ds, want under 30s", med)
	}
	t.Logf("1%% -> 5%% at 20 req/s: median %ds", med)

	found := 0
	for i := 0; i < 200; i++ {
		if run(r, Config{Direction: Higher, MinRatio: 1.2}, arm{20, 0.02}, arm{180, 0.01}, 600, 0.99, true) >= 0 {
			found++
		}
	}
	if found < 190 {
		t.Fatalf("1%% -> 2%%: found %d of 200 within 10 minutes, want >= 95%%", found)
	}
	t.Logf("1%% -> 2%% at 20 req/s: %d/200 within 10 min", found)
}

func TestLowerIsBadAndHealthy(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	// A KPI (orders per request) dropping from 10% to 5% is a regression
	// when lower is bad, and not when higher is bad.
	if run(r, Config{Direction: Lower, MinRatio: 1.2}, arm{20, 0.05}, arm{180, 0.10}, 300, 0.99, true) < 0 {
		t.Fatal("a halved KPI was not found")
	}
	if run(r, Config{Direction: Higher, MinRatio: 1.2}, arm{20, 0.05}, arm{180, 0.10}, 300, 0.99, true) >= 0 {
		t.Fatal("an improvement was reported as a regression")
	}

	// With equal rates and enough traffic, the healthy test concludes.
	test := NewRateTest(Config{Direction: Higher, MinRatio: 1.5})
	for s := 0; s < 600; s++ {
		nc, no := poisson(r, 50), poisson(r, 50)
		test.Observe(binomial(r, nc, 0.05), nc, binomial(r, no, 0.05), no)
	}
	if c := test.HealthyConfidence(); c < 0.99 {
		t.Fatalf("healthy confidence %.3f after 30k requests per arm with equal 5%% rates", c)
	}
	if c := test.RegressionConfidence(); c >= 0.95 {
		t.Fatalf("regression confidence %.3f with equal rates", c)
	}
}

func TestRatioAndRates(t *testing.T) {
	test := NewRateTest(Config{Direction: Higher, MinRatio: 1.2})
	test.Observe(10, 100, 10, 1000)
	cand, ctrl := test.Rates()
	if cand != 0.1 || ctrl != 0.01 {
		t.Fatalf("rates %v %v", cand, ctrl)
	}
	if r, want := test.Ratio(), ((10+100.0/1100)/100)/((10+1000.0/1100)/1000); math.Abs(r-want) > 1e-9 {
		t.Fatalf("ratio %v, want %v", r, want)
	}
	quiet := NewRateTest(Config{Direction: Higher, MinRatio: 1.2})
	quiet.Observe(0, 30000, 0, 90000)
	if r := quiet.Ratio(); math.Abs(r-1) > 1e-12 {
		t.Fatalf("no events on either side must give ratio 1, got %v", r)
	}
	test.Observe(5, 0, 5, 10) // no candidate exposure: ignored
	if test.CandEvents != 10 {
		t.Fatal("a slice without exposure was counted")
	}
}

func median(xs []int) int {
	s := append([]int(nil), xs...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// runBaseline simulates an all-at-once deploy: a baseline of
// baselineSeconds before it, then the candidate alone.
func runBaseline(r *rand.Rand, cfg Config, base, cand arm, baselineSeconds, seconds int, level float64) int {
	var be, bn float64
	for s := 0; s < baselineSeconds; s++ {
		n := poisson(r, base.rps)
		bn += n
		be += binomial(r, n, base.rate)
	}
	t := NewBaselineTest(cfg, be, bn)
	for s := 1; s <= seconds; s++ {
		n := poisson(r, cand.rps)
		t.Observe(binomial(r, n, cand.rate), n)
		if t.RegressionConfidence() >= level {
			return s
		}
	}
	return -1
}

func TestBaselineFalsePositivesAndPower(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	fp := 0
	for i := 0; i < 400; i++ {
		if runBaseline(r, Config{Direction: Higher, MinRatio: 1.2}, arm{20, 0.01}, arm{20, 0.01}, 600, 600, 0.95) >= 0 {
			fp++
		}
	}
	if fp > 32 {
		t.Fatalf("%d of 400 null all-at-once runs reached 0.95", fp)
	}
	t.Logf("all-at-once null: %d/400 false positives at alpha 0.05", fp)
	found := 0
	var times []int
	for i := 0; i < 200; i++ {
		if s := runBaseline(r, Config{Direction: Higher, MinRatio: 1.2}, arm{20, 0.01}, arm{20, 0.05}, 600, 600, 0.99); s >= 0 {
			found++
			times = append(times, s)
		}
	}
	if found < 190 {
		t.Fatalf("all-at-once 1%% -> 5%%: found %d of 200", found)
	}
	t.Logf("all-at-once 1%% -> 5%% at 20 req/s: %d/200, median %ds", found, median(times))
}

// healthyAt is when a baseline test of a candidate at rate cand (rps per
// second) first reaches level on the healthy side, or -1.
func healthyAt(r *rand.Rand, cfg Config, baseEvents, baseExposure, rps, cand float64, seconds int, level float64) int {
	t := NewBaselineTest(cfg, baseEvents, baseExposure)
	for s := 1; s <= seconds; s++ {
		t.Observe(poisson(r, rps*cand), rps)
		if t.HealthyConfidence() >= level {
			return s
		}
	}
	return -1
}

func TestBaselineHealthy(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	cfg := Config{Direction: Higher, MinRatio: 1.2, MinDifference: 0.002}
	// No effect: 0.3% failures at 100 req/s against a 10-minute baseline
	// at the same rate. The material effect is +0.2 points (0.5%).
	found := 0
	for i := 0; i < 200; i++ {
		if healthyAt(r, cfg, 180, 60000, 100, 0.003, 1800, 0.95) >= 0 {
			found++
		}
	}
	if found < 190 {
		t.Fatalf("no effect: healthy in %d of 200", found)
	}
	// At the material effect (the larger of x1.2 and +0.2 points), healthy
	// is claimed at most alpha of the time.
	for _, c := range []struct{ base, cand float64 }{{0.003, 0.005}, {0.03, 0.036}} {
		wrong := 0
		for i := 0; i < 400; i++ {
			if healthyAt(r, cfg, c.base*60000, 60000, 100, c.cand, 1800, 0.95) >= 0 {
				wrong++
			}
		}
		if wrong > 32 {
			t.Fatalf("%g -> %g: healthy in %d of 400", c.base, c.cand, wrong)
		}
		t.Logf("%g -> %g (material): healthy in %d of 400", c.base, c.cand, wrong)
	}
}
