package detect

import (
	"math"
	"math/bits"
	"time"
)

// Latency histogram: fixed log-linear buckets over microseconds, 8 buckets per
// power of two (about 9% relative width), from 1 us to about 134 s. Fixed
// boundaries make histograms of different arms and slices mergeable by
// adding counts, and recording a value is a few instructions.
const (
	subBucketBits = 3
	subBuckets    = 1 << subBucketBits
	maxExponent   = 27
	// Values below subBuckets get one bucket each; every power of two from
	// 2^subBucketBits to 2^maxExponent then gets subBuckets buckets.
	numBuckets = (maxExponent - subBucketBits + 2) * subBuckets
)

// Histogram counts durations.
type Histogram [numBuckets]uint32

func bucketOf(d time.Duration) int {
	us := uint64(d / time.Microsecond)
	if us < subBuckets {
		return int(us)
	}
	e := bits.Len64(us) - 1
	if e > maxExponent {
		return numBuckets - 1
	}
	sub := (us >> (e - subBucketBits)) & (subBuckets - 1)
	return (e-subBucketBits+1)*subBuckets + int(sub)
}

// lowerBound is the smallest duration that falls in bucket i.
func lowerBound(i int) time.Duration {
	if i < subBuckets {
		return time.Duration(i) * time.Microsecond
	}
	e := i/subBuckets + subBucketBits - 1
	sub := uint64(i % subBuckets)
	return time.Duration((subBuckets+sub)<<(e-subBucketBits)) * time.Microsecond
}

// Total is the number of recorded durations.
func (h *Histogram) Total() uint64 {
	var n uint64
	for _, c := range h {
		n += uint64(c)
	}
	return n
}

// QuantileBucket returns the bucket holding quantile q, or -1 when empty.
func (h *Histogram) QuantileBucket(q float64) int {
	total := h.Total()
	if total == 0 {
		return -1
	}
	rank := uint64(q * float64(total))
	var seen uint64
	for i, c := range h {
		seen += uint64(c)
		if seen > rank {
			return i
		}
	}
	return numBuckets - 1
}

// Quantile returns the lower bound of the bucket holding quantile q.
func (h *Histogram) Quantile(q float64) time.Duration {
	b := h.QuantileBucket(q)
	if b < 0 {
		return 0
	}
	return lowerBound(b)
}

// Above counts the durations in buckets after bucket b: the requests slower
// than a threshold that falls in bucket b.
func (h *Histogram) Above(b int) uint64 {
	var n uint64
	for i := b + 1; i < numBuckets; i++ {
		n += uint64(h[i])
	}
	return n
}

// spanHistogram is a Histogram held as the counts of its span of buckets
// from the lowest to the highest ever filled: a version's latencies fill a
// few dozen of the 208 buckets, so the histograms kept for every series
// (this second's, the last one's, the baseline's two generations) cost a
// fraction of full ones. Counts take 16 bits each until one needs more,
// then 32 (as two cells, low half first): most series never count 65,536
// requests in one bucket of a generation. Recording is as cheap once the
// span has settled; reading a whole distribution expands it into a
// Histogram.
type spanHistogram struct {
	lo int32
	// wide: each count takes two cells.
	wide  bool
	cells []uint16
}

// len is the number of buckets the span covers.
func (s *spanHistogram) len() int {
	if s.wide {
		return len(s.cells) / 2
	}
	return len(s.cells)
}

// at is the count of the span's i-th bucket.
func (s *spanHistogram) at(i int) uint32 {
	if s.wide {
		return uint32(s.cells[2*i]) | uint32(s.cells[2*i+1])<<16
	}
	return uint32(s.cells[i])
}

// cellsFor is how many cells n buckets take.
func (s *spanHistogram) cellsFor(n int) int {
	if s.wide {
		return 2 * n
	}
	return n
}

// widen makes the span cover buckets first to last.
func (s *spanHistogram) widen(first, last int) {
	if len(s.cells) == 0 {
		s.lo, s.cells = int32(first), make([]uint16, s.cellsFor(last-first+1))
		return
	}
	lo, hi := int(s.lo), int(s.lo)+s.len()-1
	if first >= lo && last <= hi {
		return
	}
	nlo, nhi := min(lo, first), max(hi, last)
	wider := make([]uint16, s.cellsFor(nhi-nlo+1))
	copy(wider[s.cellsFor(lo-nlo):], s.cells)
	s.lo, s.cells = int32(nlo), wider
}

// toWide gives every count two cells.
func (s *spanHistogram) toWide() {
	n := s.len()
	wide := make([]uint16, 2*n)
	for i, c := range s.cells {
		wide[2*i] = c
	}
	s.wide, s.cells = true, wide
}

// addAt counts n more in the span's i-th bucket (uint32 arithmetic, as a
// Histogram's).
func (s *spanHistogram) addAt(i int, n uint32) {
	if !s.wide {
		if v := uint64(s.cells[i]) + uint64(n); v <= math.MaxUint16 {
			s.cells[i] = uint16(v)
			return
		}
		s.toWide()
	}
	v := s.at(i) + n
	s.cells[2*i], s.cells[2*i+1] = uint16(v), uint16(v>>16)
}

// addBucket counts n durations in bucket b.
func (s *spanHistogram) addBucket(b int, n uint32) {
	i := b - int(s.lo)
	if i < 0 || i >= s.len() {
		s.widen(b, b)
		i = b - int(s.lo)
	}
	s.addAt(i, n)
}

// record counts one duration.
func (s *spanHistogram) record(d time.Duration) { s.addBucket(bucketOf(d), 1) }

// addSpan merges o into s.
func (s *spanHistogram) addSpan(o *spanHistogram) {
	if o.total() == 0 {
		return
	}
	s.widen(int(o.lo), int(o.lo)+o.len()-1)
	off := int(o.lo - s.lo)
	for i := range o.len() {
		if c := o.at(i); c != 0 {
			s.addAt(off+i, c)
		}
	}
}

// addTo merges s into h.
func (s *spanHistogram) addTo(h *Histogram) {
	for i := range s.len() {
		h[int(s.lo)+i] += s.at(i)
	}
}

// total is the number of durations counted.
func (s *spanHistogram) total() uint64 {
	var n uint64
	for i := range s.len() {
		n += uint64(s.at(i))
	}
	return n
}

// above counts the durations in buckets after bucket b.
func (s *spanHistogram) above(b int) uint64 {
	var n uint64
	for i := max(0, b+1-int(s.lo)); i < s.len(); i++ {
		n += uint64(s.at(i))
	}
	return n
}

// reset empties s, keeping its span (a version's latencies keep to about
// the same buckets) and its width (a busy series stays busy).
func (s *spanHistogram) reset() { clear(s.cells) }
