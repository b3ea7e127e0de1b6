package detect

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// plainSlot and plainSlots are the baseline slots as they were held before
// packing: the reference coarseSlots must agree with.
type plainSlot struct {
	start                               int32
	requests, failures, logs, logErrors uint32
	kpi                                 int32
}

type plainSlots struct {
	slots []plainSlot
	kpi   [][MaxKPIs]float64
}

func (p *plainSlots) add(start int32, c counts) {
	if n := len(p.slots); n == 0 || p.slots[n-1].start != start {
		p.slots = append(p.slots, plainSlot{start: start, kpi: -1})
	}
	s := &p.slots[len(p.slots)-1]
	s.requests = sat32(float64(s.requests) + c.requests)
	s.failures = sat32(float64(s.failures) + c.failures)
	s.logs = sat32(float64(s.logs) + c.logs)
	s.logErrors = sat32(float64(s.logErrors) + c.logErrors)
	if c.kpi != ([MaxKPIs]float64{}) {
		if s.kpi < 0 {
			s.kpi = int32(len(p.kpi))
			p.kpi = append(p.kpi, [MaxKPIs]float64{})
		}
		for i, v := range c.kpi {
			p.kpi[s.kpi][i] += v
		}
	}
}

func (p *plainSlots) dropBefore(cutoff int64) {
	keep := 0
	for keep < len(p.slots) && int64(p.slots[keep].start) < cutoff {
		keep++
	}
	if keep == 0 {
		return
	}
	p.slots = append(p.slots[:0], p.slots[keep:]...)
	var kept [][MaxKPIs]float64
	for i := range p.slots {
		if k := p.slots[i].kpi; k >= 0 {
			p.slots[i].kpi = int32(len(kept))
			kept = append(kept, p.kpi[k])
		}
	}
	p.kpi = kept
}

// Packed slots hold exactly what plain ones do, whatever the counts' sizes
// (zero, small, past 2^24, saturating), KPIs, gaps between slots, clocks
// going back, and drops.
func TestCoarseSlotsMatchPlainSlots(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	value := func() float64 {
		switch r.IntN(8) {
		case 0, 1, 2:
			return 0
		case 3, 4:
			return float64(r.IntN(200))
		case 5:
			return float64(r.IntN(70000))
		case 6:
			return float64(r.IntN(1 << 30))
		}
		return math.MaxUint32 - float64(r.IntN(3))
	}
	for run := range 50 {
		var packed coarseSlots
		var plain plainSlots
		start := int32(r.IntN(1000)) * 10
		for step := range 2000 {
			switch op := r.IntN(20); {
			case op < 12:
				var c counts
				c.requests, c.failures, c.logs, c.logErrors = value(), value(), value(), value()
				if run%2 == 0 && r.IntN(4) == 0 {
					c.kpi[r.IntN(MaxKPIs)] = r.Float64() * 10
				}
				packed.add(start, c)
				plain.add(start, c)
			case op < 17:
				start += 10 * int32(r.IntN(3))
			case op < 18:
				// A clock that went back.
				start -= 10 * int32(r.IntN(4))
			default:
				cutoff := int64(start) - int64(r.IntN(700))
				packed.dropBefore(cutoff)
				plain.dropBefore(cutoff)
			}
			require.Equal(t, len(plain.slots), packed.len(), "run %d step %d", run, step)
			for i, s := range plain.slots {
				want := counts{requests: float64(s.requests), failures: float64(s.failures), logs: float64(s.logs), logErrors: float64(s.logErrors)}
				if s.kpi >= 0 {
					want.kpi = plain.kpi[s.kpi]
				}
				require.Equal(t, s.start, packed.start(i), "run %d step %d slot %d", run, step, i)
				require.Equal(t, want, packed.counts(i), "run %d step %d slot %d", run, step, i)
			}
			require.Len(t, packed.kpi, len(plain.kpi))
		}
	}
}

// A full baseline of a modest service packs into a few bytes a slot.
func TestCoarseSlotsPackSmallCounts(t *testing.T) {
	var s coarseSlots
	for i := range 61 {
		s.add(int32(10*i), counts{requests: 20, failures: float64(i % 2)})
	}
	require.Equal(t, 61, s.len())
	require.Equal(t, uint8(3), s.stride)
	s.dropBefore(300)
	require.Equal(t, 31, s.len())
	require.Equal(t, int32(300), s.start(0))
	require.Equal(t, counts{requests: 20, failures: 0}, s.counts(0))
}
