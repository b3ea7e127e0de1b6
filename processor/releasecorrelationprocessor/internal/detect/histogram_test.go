package detect

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBucketsAreMonotoneAndBounded(t *testing.T) {
	prev := -1
	for us := 0; us < 5_000_000; us += 1 + us/50 {
		d := time.Duration(us) * time.Microsecond
		b := bucketOf(d)
		if b < prev {
			t.Fatalf("bucket of %v is %d, below the previous %d", d, b, prev)
		}
		if lb := lowerBound(b); lb > d {
			t.Fatalf("lower bound %v of bucket %d is above %v", lb, b, d)
		}
		if b+1 < numBuckets && lowerBound(b+1) <= d {
			t.Fatalf("%v should be in bucket %d or later", d, b+1)
		}
		if us >= 64 {
			if w := float64(lowerBound(b+1)-lowerBound(b)) / float64(lowerBound(b)); w > 0.126 {
				t.Fatalf("bucket %d is %.1f%% wide", b, 100*w)
			}
		}
		prev = b
	}
	if bucketOf(time.Hour) != numBuckets-1 {
		t.Fatal("durations past the range must land in the last bucket")
	}
}

func TestQuantileAndAbove(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h[bucketOf(time.Duration(i)*time.Millisecond)]++
	}
	if q := h.Quantile(0.95); q < 880*time.Millisecond || q > 950*time.Millisecond {
		t.Fatalf("p95 %v", q)
	}
	b := h.QuantileBucket(0.95)
	// The p95 (950 ms) falls in the bucket [917 ms, 983 ms): 17 values
	// (984..1000 ms) lie above it.
	if above := h.Above(b); above != 17 {
		t.Fatalf("%d above the p95 bucket, want 17", above)
	}
	var empty Histogram
	if empty.QuantileBucket(0.5) != -1 || empty.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has no quantile")
	}
}

// A spanHistogram holds exactly what a Histogram would, whichever way its
// counts arrive (single buckets, other spanHistograms) and whatever order
// its span widens in; a reset keeps nothing.
func TestSpanHistogramMatchesHistogram(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var viaBuckets, viaSpans spanHistogram
	var want Histogram
	for range 200 {
		var h Histogram
		var part spanHistogram
		lo := r.IntN(numBuckets)
		hi := min(numBuckets-1, lo+r.IntN(40))
		for range r.IntN(50) {
			b, n := lo+r.IntN(hi-lo+1), uint32(1+r.IntN(1000))
			h[b] += n
			viaBuckets.addBucket(b, n)
			part.addBucket(b, n)
		}
		viaSpans.addSpan(&part)
		for i, c := range h {
			want[i] += c
		}
		for _, got := range []*spanHistogram{&viaBuckets, &viaSpans} {
			var dense Histogram
			got.addTo(&dense)
			require.Equal(t, want, dense)
			require.Equal(t, want.Total(), got.total())
			b := r.IntN(numBuckets)
			require.Equal(t, want.Above(b), got.above(b), "above bucket %d", b)
		}
	}
	require.LessOrEqual(t, viaSpans.len(), numBuckets)
	viaSpans.reset()
	var got Histogram
	viaSpans.addTo(&got)
	require.Equal(t, Histogram{}, got)

	var one spanHistogram
	one.record(150 * time.Millisecond)
	require.Equal(t, uint64(1), one.total())
	require.Equal(t, uint64(0), one.above(bucketOf(150*time.Millisecond)))
	require.Equal(t, uint64(1), one.above(bucketOf(150*time.Millisecond)-1))
}

// Counts past 16 bits widen a spanHistogram's cells, whichever way they
// arrive (a bucket at a time, one more span, a merge of a wide span into a
// narrow one and back), and wrap at 32 bits as a Histogram's do.
func TestSpanHistogramWidensCounts(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for run := range 100 {
		var s, other spanHistogram
		var want, wantOther Histogram
		for step := range 300 {
			b := 60 + r.IntN(30)
			var n uint32
			switch r.IntN(4) {
			case 0:
				n = 1
			case 1:
				n = uint32(r.IntN(1000))
			case 2:
				n = uint32(math.MaxUint16 - r.IntN(3))
			default:
				n = uint32(r.IntN(1 << 20))
				if run%10 == 0 {
					n = math.MaxUint32 - uint32(r.IntN(5))
				}
			}
			if r.IntN(3) == 0 {
				other.addBucket(b, n)
				wantOther[b] += n
			} else {
				s.addBucket(b, n)
				want[b] += n
			}
			if r.IntN(20) == 0 {
				s.addSpan(&other)
				for i, c := range wantOther {
					want[i] += c
				}
				if r.IntN(2) == 0 {
					other.reset()
					wantOther = Histogram{}
				}
			}
			var got Histogram
			s.addTo(&got)
			require.Equal(t, want, got, "run %d step %d", run, step)
			require.Equal(t, want.Total(), s.total())
			a := r.IntN(numBuckets)
			require.Equal(t, want.Above(a), s.above(a))
		}
	}
	var edge spanHistogram
	edge.addBucket(5, math.MaxUint16)
	require.False(t, edge.wide)
	edge.addBucket(5, 1)
	require.True(t, edge.wide)
	require.Equal(t, uint64(math.MaxUint16+1), edge.total())
}
