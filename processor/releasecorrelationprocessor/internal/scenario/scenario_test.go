package scenario

import (
	"math"
	"sort"
	"testing"
)

// TestTailRegressionMovesP95NotTheMedian checks the simulator does what the
// latency classes claim: +30% on p95, the median unchanged.
func TestTailRegressionMovesP95NotTheMedian(t *testing.T) {
	quantiles := func(tr Traffic) (p50, p95 float64) {
		sim := NewSim(Scenario{ID: "q", Seed: 1})
		xs := make([]float64, 200000)
		for i := range xs {
			xs[i] = sim.latency(tr)
		}
		sort.Float64s(xs)
		return xs[len(xs)/2], xs[len(xs)*95/100]
	}
	base := Traffic{LatencyMs: 100, LatencySigma: 0.4}
	slow := base
	slow.TailShare, slow.TailFactor = 0.1, 1.3
	b50, b95 := quantiles(base)
	s50, s95 := quantiles(slow)
	if math.Abs(s50/b50-1) > 0.02 {
		t.Fatalf("median moved: %.1f -> %.1f", b50, s50)
	}
	if r := s95 / b95; r < 1.27 || r > 1.33 {
		t.Fatalf("p95 moved by %.2fx, want 1.3x", r)
	}
}

func TestCorpusIsLabelledAndLoadable(t *testing.T) {
	data, err := Encode(Generate())
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, s := range Generate() {
		counts[s.Label]++
	}
	if counts[LabelHealthy]+counts[LabelExogenous] < 200 {
		t.Fatalf("only %d healthy and exogenous scenarios", counts[LabelHealthy]+counts[LabelExogenous])
	}
	if len(data) == 0 || counts[LabelRegression] == 0 || counts[LabelHold] == 0 {
		t.Fatalf("labels: %v", counts)
	}
}
