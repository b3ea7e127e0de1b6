package detect

import (
	"math"
	"math/bits"
	"time"
)

// The fields of a baseline slot, in the order a row holds them.
const (
	// colStart is the slot's start after the first slot's, in
	// coarseSlotWidth units, zigzag-encoded (starts only grow while the
	// clock does).
	colStart = iota
	colRequests
	colFailures
	colLogs
	colLogErrors
	// colKPI is the index of the slot's KPI sums in kpi, plus one (0:
	// none).
	colKPI
	slotCols
)

// coarseSlots are an arm's baseline slots (counts over coarseSlotWidth),
// oldest first, packed: each field takes the bytes its largest value in the
// held slots needs (0 to 4), so a full 10-minute baseline of a service with
// a few requests a second and no logs costs about 3 bytes a slot rather
// than 24. Counts saturate at math.MaxUint32, as plain uint32 slots did.
type coarseSlots struct {
	rows []byte
	// first is the first slot's start, in seconds after the arm's
	// firstSeen; n the number of slots.
	first, n int32
	width    [slotCols]uint8
	stride   uint8
	kpi      [][MaxKPIs]float64
}

type slotRow [slotCols]uint32

// slotSeconds is coarseSlotWidth in seconds. Slot starts are multiples of
// it apart (times truncated to it), which the start field relies on.
const slotSeconds = int64(coarseSlotWidth / time.Second)

var zeroRow [slotCols * 4]byte

func byteWidth(v uint32) uint8 { return uint8((bits.Len32(v) + 7) / 8) }

func zigzag(d int64) uint32 { return uint32(d<<1) ^ uint32(d>>63) }

func unzigzag(z uint32) int64 { return int64(z>>1) ^ -int64(z&1) }

func (s *coarseSlots) len() int { return int(s.n) }

// row decodes slot i.
func (s *coarseSlots) row(i int) slotRow {
	var r slotRow
	p := s.rows[i*int(s.stride):]
	for c, w := range s.width {
		for b := range int(w) {
			r[c] |= uint32(p[b]) << (8 * b)
		}
		p = p[w:]
	}
	return r
}

// put encodes slot i; the widths must hold r.
func (s *coarseSlots) put(i int, r *slotRow) {
	p := s.rows[i*int(s.stride):]
	for c, w := range s.width {
		for b := range int(w) {
			p[b] = byte(r[c] >> (8 * b))
		}
		p = p[w:]
	}
}

// fits reports whether the widths hold r.
func (s *coarseSlots) fits(r *slotRow) bool {
	for c, v := range r {
		if byteWidth(v) > s.width[c] {
			return false
		}
	}
	return true
}

// start is slot i's start, in seconds after the arm's firstSeen.
func (s *coarseSlots) start(i int) int32 {
	return s.startOf(s.row(i))
}

func (s *coarseSlots) startOf(r slotRow) int32 {
	return int32(int64(s.first) + unzigzag(r[colStart])*slotSeconds)
}

// counts are slot i's counts, KPIs included.
func (s *coarseSlots) counts(i int) counts {
	r := s.row(i)
	c := countsOf(&r)
	if k := r[colKPI]; k > 0 {
		c.kpi = s.kpi[k-1]
	}
	return c
}

// countsOf is a slot's counts, KPIs left out.
func countsOf(r *slotRow) counts {
	return counts{requests: float64(r[colRequests]), failures: float64(r[colFailures]),
		logs: float64(r[colLogs]), logErrors: float64(r[colLogErrors])}
}

// add adds c to the slot starting at start: the last one when it starts
// there, else a new last one.
func (s *coarseSlots) add(start int32, c counts) {
	i := int(s.n) - 1
	var r slotRow
	if s.n > 0 {
		r = s.row(i)
	}
	if s.n == 0 || s.startOf(r) != start {
		if s.n == 0 {
			s.first = start
		}
		r = slotRow{colStart: zigzag((int64(start) - int64(s.first)) / slotSeconds)}
		i++
	}
	r[colRequests] = sat32(float64(r[colRequests]) + c.requests)
	r[colFailures] = sat32(float64(r[colFailures]) + c.failures)
	r[colLogs] = sat32(float64(r[colLogs]) + c.logs)
	r[colLogErrors] = sat32(float64(r[colLogErrors]) + c.logErrors)
	if c.kpi != ([MaxKPIs]float64{}) {
		if r[colKPI] == 0 {
			s.kpi = append(s.kpi, [MaxKPIs]float64{})
			r[colKPI] = uint32(len(s.kpi))
		}
		for j, v := range c.kpi {
			s.kpi[r[colKPI]-1][j] += v
		}
	}
	if !s.fits(&r) {
		w := s.width
		for c, v := range r {
			w[c] = max(w[c], byteWidth(v))
		}
		s.relayout(0, w)
	}
	if i == int(s.n) {
		s.rows = append(s.rows, zeroRow[:s.stride]...)
		s.n++
	}
	s.put(i, &r)
}

// dropBefore drops the oldest slots while they start before cutoff
// (seconds after the arm's firstSeen).
func (s *coarseSlots) dropBefore(cutoff int64) {
	k := 0
	for k < int(s.n) && int64(s.start(k)) < cutoff {
		k++
	}
	if k == 0 {
		return
	}
	if k == int(s.n) {
		*s = coarseSlots{}
		return
	}
	// The rest's starts count from the new first slot, and each field
	// takes what the slots left need.
	first := s.start(k)
	shift := int64(first) - int64(s.first)
	var w [slotCols]uint8
	for i := k; i < int(s.n); i++ {
		r := s.row(i)
		r[colStart] = zigzag(unzigzag(r[colStart]) - shift/slotSeconds)
		for c, v := range r {
			w[c] = max(w[c], byteWidth(v))
		}
	}
	s.relayout(k, w)
	s.first = first
	s.compactKPIs()
}

// relayout re-encodes the slots from the k-th on with widths w: in place
// when rows do not grow, which dropping slots never makes them do. The
// start field is rebased by how far slot k is from the first one.
func (s *coarseSlots) relayout(k int, w [slotCols]uint8) {
	var stride uint8
	for _, x := range w {
		stride += x
	}
	n := int(s.n) - k
	dst := *s
	dst.width, dst.stride = w, stride
	if stride > s.stride {
		dst.rows = make([]byte, n*int(stride), (n+1)*int(stride))
	} else {
		dst.rows = s.rows[:n*int(stride)]
	}
	base := int64(0)
	if k > 0 {
		base = unzigzag(s.row(k)[colStart])
	}
	for i := range n {
		// Row i+k is read before row i is written, and row i ends where
		// row i+k starts at the latest: the in-place copy is safe.
		r := s.row(i + k)
		r[colStart] = zigzag(unzigzag(r[colStart]) - base)
		dst.put(i, &r)
	}
	dst.n = int32(n)
	*s = dst
}

// compactKPIs drops the KPI sums of slots no longer held.
func (s *coarseSlots) compactKPIs() {
	if len(s.kpi) == 0 {
		return
	}
	var kept [][MaxKPIs]float64
	for i := range int(s.n) {
		r := s.row(i)
		if k := r[colKPI]; k > 0 {
			kept = append(kept, s.kpi[k-1])
			// A rank in slot order is at most the old index: it fits.
			r[colKPI] = uint32(len(kept))
			s.put(i, &r)
		}
	}
	s.kpi = kept
}

func sat32(x float64) uint32 {
	if x >= math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(x)
}
