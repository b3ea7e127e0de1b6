package detect

import (
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
// fraction of full ones. Recording is as cheap once the span has settled;
// reading a whole distribution expands it into a Histogram.
type spanHistogram struct {
	lo     int
	counts []uint32
}

// widen makes the span cover buckets first to last.
func (s *spanHistogram) widen(first, last int) {
	if len(s.counts) == 0 {
		s.lo, s.counts = first, make([]uint32, last-first+1)
		return
	}
	hi := s.lo + len(s.counts) - 1
	if first >= s.lo && last <= hi {
		return
	}
	lo, hi := min(s.lo, first), max(hi, last)
	wider := make([]uint32, hi-lo+1)
	copy(wider[s.lo-lo:], s.counts)
	s.lo, s.counts = lo, wider
}

// addBucket counts n durations in bucket b.
func (s *spanHistogram) addBucket(b int, n uint32) {
	if i := b - s.lo; i >= 0 && i < len(s.counts) {
		s.counts[i] += n
		return
	}
	s.widen(b, b)
	s.counts[b-s.lo] += n
}

// record counts one duration.
func (s *spanHistogram) record(d time.Duration) { s.addBucket(bucketOf(d), 1) }

// addSpan merges o into s.
func (s *spanHistogram) addSpan(o *spanHistogram) {
	if o.total() == 0 {
		return
	}
	s.widen(o.lo, o.lo+len(o.counts)-1)
	for i, c := range o.counts {
		s.counts[o.lo+i-s.lo] += c
	}
}

// addTo merges s into h.
func (s *spanHistogram) addTo(h *Histogram) {
	for i, c := range s.counts {
		h[s.lo+i] += c
	}
}

// total is the number of durations counted.
func (s *spanHistogram) total() uint64 {
	var n uint64
	for _, c := range s.counts {
		n += uint64(c)
	}
	return n
}

// above counts the durations in buckets after bucket b.
func (s *spanHistogram) above(b int) uint64 {
	var n uint64
	for i, c := range s.counts {
		if s.lo+i > b {
			n += uint64(c)
		}
	}
	return n
}

// reset empties s, keeping its span for the next slice (a version's
// latencies keep to about the same buckets).
func (s *spanHistogram) reset() { clear(s.counts) }
