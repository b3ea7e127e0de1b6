package detect

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// ArmKey identifies the telemetry of one version of one release key.
type ArmKey struct {
	Service release.ServiceKey
	Scope   string
	// Version is normalised (release.NormalizeVersion).
	Version string
}

// Unversioned is the version of telemetry that says none while nothing
// rolls out: whatever runs then. It can be the control of an all-at-once
// deploy (its pre-deploy baseline), never a candidate or an implicit
// release.
const Unversioned = "\x00unversioned"

// MaxKPIs bounds the configured business KPIs.
const MaxKPIs = 8

// tally is an arm's counts of one slice, KPIs apart: most arms have none.
type tally struct{ requests, failures, logs, logErrors float64 }

// counts are the per-slice tallies of an arm.
type counts struct {
	requests, failures float64
	logs, logErrors    float64
	kpi                [MaxKPIs]float64
}

func (t *tally) add(o tally) {
	t.requests += o.requests
	t.failures += o.failures
	t.logs += o.logs
	t.logErrors += o.logErrors
}

func (c *counts) add(o counts) {
	c.requests += o.requests
	c.failures += o.failures
	c.logs += o.logs
	c.logErrors += o.logErrors
	for i := range c.kpi {
		c.kpi[i] += o.kpi[i]
	}
}

const (
	coarseSlotWidth = 10 * time.Second
	maxExemplars    = 5
	maxPeers        = 32
	// maxStreams bounds the cumulative metric streams remembered per arm.
	maxStreams = 256
	// maxSliceValues bounds the values tracked per breakdown dimension.
	maxSliceValues = 32
	// spanSourceMemory: an arm that had spans this recently takes its
	// requests from spans, not from http.server.request.duration.
	spanSourceMemory = time.Minute
)

// sliceStat counts one breakdown value's requests and failures.
type sliceStat struct{ requests, failures float64 }

// peerStat counts client calls to one dependency.
type peerStat struct{ calls, failures float64 }

// peerCalls are the calls to one dependency.
type peerCalls struct {
	peer string
	peerStat
}

// peerIn returns the index of peer in list, or -1. A list holds maxPeers
// at most, most often one or two: a scan is cheaper than a map, in time and
// far more in memory.
func peerIn(list []peerCalls, peer string) int {
	for i := range list {
		if list[i].peer == peer {
			return i
		}
	}
	return -1
}

// peerCount is what list holds of peer (zero when nothing).
func peerCount(list []peerCalls, peer string) peerStat {
	if i := peerIn(list, peer); i >= 0 {
		return list[i].peerStat
	}
	return peerStat{}
}

// Arm accumulates one version's telemetry. Writers lock it once per resource
// batch; the detector swaps the slice counters once per evaluation interval.
type Arm struct {
	key ArmKey
	// label is the version as the telemetry first wrote it (key.Version is
	// normalised).
	label string
	// firstSeen is when the version was first seen (detector clock).
	firstSeen time.Time
	// ref is set by every record and cleared by the eviction hand; inEval
	// marks an arm an evaluation reads, which is never evicted.
	ref, inEval atomic.Bool

	mu  sync.Mutex
	cur tally
	// histDirty: curHist holds data this slice. exHead is where the next
	// exemplar goes, exCount how many are held.
	histDirty       bool
	exHead, exCount uint8
	// curKPI is the current slice's KPI sums, allocated with the first.
	curKPI *[MaxKPIs]float64
	// curHist is allocated with the first latency seen: arms of logs or
	// KPIs only never need one.
	curHist *spanHistogram
	// peers counts client calls by dependency, cumulatively.
	peers []peerCalls
	// exemplars are the trace ids of recent failing requests (a ring).
	exemplars [maxExemplars]pcommon.TraceID
	lastSeen  time.Time
	lastSpans time.Time
	// total counts every request ever seen: the version's traffic in the
	// inventory.
	total float64
	// streams holds the last value of cumulative metric streams, by a hash
	// of their identity, to turn them into deltas.
	streams map[uint64]*stream
	// slices counts requests by breakdown dimension and value,
	// cumulatively.
	slices map[string]map[string]*sliceStat

	// Owned by the detector's evaluation goroutine.
	last tally
	// lastKPI is the last slice's KPI sums (nil while there were none).
	lastKPI *[MaxKPIs]float64
	// lastHist is the last slice's latency, kept only while the arm is
	// under evaluation (nil otherwise).
	lastHist *spanHistogram
	// window holds two generations of the latency histogram, each covering
	// up to half the baseline window, so that thresholds and baselines
	// describe recent behaviour; allocated when there is latency to hold.
	window      [2]spanHistogram
	windowStart time.Time
	// coarse holds the baseline's slots, grown as slots fill (an arm seen
	// once holds one, not the window's worth).
	coarse coarseSlots
	// fleetPub, in a fleet, is what the arm published of its cumulative
	// counts (guarded by mu; nil until it is first published).
	fleetPub *fleetPublished
}

func newArm(k ArmKey, label string, now time.Time, baselineWindow time.Duration) *Arm {
	if label == "" {
		label = k.Version
	}
	if k.Version == Unversioned {
		label = "the version running before"
	}
	return &Arm{key: k, label: label, firstSeen: now, lastSeen: now}
}

// SpanClassifier decides what counts as a request and a failure.
type SpanClassifier struct {
	// ServerErrorMin is the lowest HTTP status counted as a failure (500).
	ServerErrorMin int64
	// Breakdown are the dimensions requests are also counted by.
	Breakdown []string
	// WatchStart is when the detector started: a cumulative stream that
	// started later was watched from its beginning, so its first point
	// counts in full.
	WatchStart pcommon.Timestamp
}

func intAttr(attrs pcommon.Map, name string) (int64, bool) {
	v, ok := attrs.Get(name)
	if !ok {
		return 0, false
	}
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		return int64(v.Double()), true
	}
	return 0, false
}

// failed reports whether a span failed: error status, or an HTTP server
// error status code.
func (c SpanClassifier) failed(sp ptrace.Span) bool {
	if sp.Status().Code() == ptrace.StatusCodeError {
		return true
	}
	attrs := sp.Attributes()
	code, ok := intAttr(attrs, "http.response.status_code")
	if !ok {
		code, ok = intAttr(attrs, "http.status_code")
	}
	return ok && code >= c.ServerErrorMin
}

func peerOf(attrs pcommon.Map) string {
	for _, name := range []string{"peer.service", "server.address", "net.peer.name"} {
		if v, ok := attrs.Get(name); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			return v.Str()
		}
	}
	return ""
}

// breakdownState is one breakdown dimension during a RecordSpans call: the
// resource's value (spans without their own inherit it) and the last value's
// counter, since consecutive spans usually share a route or region.
type breakdownState struct {
	name, resource string
	vals           map[string]*sliceStat
	last           string
	lastStat       *sliceStat
}

// MaxBreakdown bounds the breakdown dimensions.
const MaxBreakdown = 8

// RecordSpans tallies one resource's spans: server and consumer spans are
// requests (failed or not, with their latency); client spans are calls to
// dependencies. Breakdown dimensions are read from the span, else from the
// resource.
func (a *Arm) RecordSpans(c SpanClassifier, resource pcommon.Map, sss ptrace.ScopeSpansSlice, now time.Time) {
	a.ref.Store(true)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastSeen = now
	var dims [MaxBreakdown]breakdownState
	nd := min(len(c.Breakdown), MaxBreakdown)
	for d := 0; d < nd; d++ {
		dims[d].name = c.Breakdown[d]
		if v, ok := resource.Get(c.Breakdown[d]); ok {
			dims[d].resource = v.AsString()
		}
	}
	for i := 0; i < sss.Len(); i++ {
		spans := sss.At(i).Spans()
		for j := 0; j < spans.Len(); j++ {
			sp := spans.At(j)
			switch sp.Kind() {
			case ptrace.SpanKindServer, ptrace.SpanKindConsumer:
				a.lastSpans = now
				a.cur.requests++
				failed := c.failed(sp)
				if failed {
					a.cur.failures++
					a.exemplars[a.exHead] = sp.TraceID()
					a.exHead = (a.exHead + 1) % maxExemplars
					a.exCount = min(a.exCount+1, maxExemplars)
				}
				if a.curHist == nil {
					a.curHist = new(spanHistogram)
				}
				a.curHist.record(time.Duration(sp.EndTimestamp() - sp.StartTimestamp()))
				a.histDirty = true
				if nd > 0 {
					attrs := sp.Attributes()
					for d := 0; d < nd; d++ {
						ds := &dims[d]
						value := ds.resource
						if v, ok := attrs.Get(ds.name); ok {
							value = v.AsString()
						}
						a.countSlice(ds, value, failed)
					}
				}
			case ptrace.SpanKindClient, ptrace.SpanKindProducer:
				a.recordCall(sp, c)
			}
		}
	}
}

// countSlice counts a request for a breakdown value; values beyond the cap
// are counted under "other".
func (a *Arm) countSlice(ds *breakdownState, value string, failed bool) {
	if value == "" {
		return
	}
	st := ds.lastStat
	if st == nil || value != ds.last {
		st = a.sliceStat(ds, value)
		ds.last, ds.lastStat = value, st
	}
	st.requests++
	if failed {
		st.failures++
	}
}

func (a *Arm) sliceStat(ds *breakdownState, value string) *sliceStat {
	if ds.vals == nil {
		if a.slices == nil {
			a.slices = map[string]map[string]*sliceStat{}
		}
		ds.vals = a.slices[ds.name]
		if ds.vals == nil {
			ds.vals = map[string]*sliceStat{}
			a.slices[ds.name] = ds.vals
		}
	}
	st, ok := ds.vals[value]
	if ok {
		return st
	}
	if len(ds.vals) >= maxSliceValues {
		value = "other"
		if st, ok = ds.vals[value]; ok {
			return st
		}
	}
	st = &sliceStat{}
	ds.vals[value] = st
	return st
}

// sliceSnapshot copies the cumulative breakdown counts.
func (a *Arm) sliceSnapshot() map[string]map[string]sliceStat {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.slices) == 0 {
		return nil
	}
	out := make(map[string]map[string]sliceStat, len(a.slices))
	for dim, vals := range a.slices {
		m := make(map[string]sliceStat, len(vals))
		for v, st := range vals {
			m[v] = *st
		}
		out[dim] = m
	}
	return out
}

// peerStat is the counts of calls to peer, added if there is room for
// another peer (maxPeers); nil when there is not.
func (a *Arm) peerStat(peer string) *peerStat {
	i := peerIn(a.peers, peer)
	if i < 0 {
		if len(a.peers) >= maxPeers {
			return nil
		}
		i = len(a.peers)
		a.peers = append(a.peers, peerCalls{peer: peer})
	}
	return &a.peers[i].peerStat
}

func (a *Arm) recordCall(sp ptrace.Span, c SpanClassifier) {
	peer := peerOf(sp.Attributes())
	if peer == "" {
		return
	}
	ps := a.peerStat(peer)
	if ps == nil {
		return
	}
	ps.calls++
	if c.failed(sp) {
		ps.failures++
	}
}

// RecordLogs tallies log records: all of them, and those of severity ERROR
// or worse.
func (a *Arm) RecordLogs(total, errors int, now time.Time) {
	a.ref.Store(true)
	a.mu.Lock()
	a.lastSeen = now
	a.cur.logs += float64(total)
	a.cur.logErrors += float64(errors)
	a.mu.Unlock()
}

// rotate closes the current slice: it becomes last, and is added to the
// baseline accumulators. evaluated says whether an evaluation reads the
// slice's latency. Called by the detector once per interval.
func (a *Arm) rotate(now time.Time, baselineWindow time.Duration, evaluated bool) {
	half := baselineWindow / 2
	if a.windowStart.IsZero() {
		a.windowStart = now
	}
	if now.Sub(a.windowStart) >= half {
		a.window[1], a.window[0] = a.window[0], a.window[1]
		a.window[0].reset()
		a.windowStart = now
	}

	a.mu.Lock()
	a.total += a.cur.requests
	a.last = a.cur
	a.cur = tally{}
	switch {
	case a.curKPI != nil:
		if a.lastKPI == nil {
			a.lastKPI = new([MaxKPIs]float64)
		}
		*a.lastKPI, *a.curKPI = *a.curKPI, [MaxKPIs]float64{}
	case a.lastKPI != nil:
		// Sums merged from other replicas last interval.
		*a.lastKPI = [MaxKPIs]float64{}
	}
	if slice := a.curHist; slice != nil && a.histDirty {
		a.window[0].addSpan(slice)
		if evaluated {
			// Keep the slice for the evaluation: swap, without a copy.
			if a.lastHist == nil {
				a.lastHist = new(spanHistogram)
			}
			a.curHist, a.lastHist = a.lastHist, slice
		}
		a.curHist.reset()
		a.histDirty = false
	} else if evaluated && a.lastHist != nil {
		a.lastHist.reset()
	}
	if !evaluated {
		a.lastHist = nil
	}
	a.mu.Unlock()

	// Baseline slots: old ones dropped as time passes; a new one only for
	// a slice with data, so an idle arm costs next to nothing per tick.
	epoch := a.firstSeen.Unix() // what slot starts count from
	a.coarse.dropBefore(now.Unix() - epoch - int64(baselineWindow/time.Second))
	last := a.lastCounts()
	if last == (counts{}) {
		return
	}
	a.coarse.add(int32(now.Truncate(coarseSlotWidth).Unix()-epoch), last)
}

// lastCounts is the last slice's counts, KPIs included.
func (a *Arm) lastCounts() counts {
	c := counts{requests: a.last.requests, failures: a.last.failures, logs: a.last.logs, logErrors: a.last.logErrors}
	if a.lastKPI != nil {
		c.kpi = *a.lastKPI
	}
	return c
}

// lastKPIOf is KPI i's sum in the last slice.
func (a *Arm) lastKPIOf(i int) float64 {
	if a.lastKPI == nil {
		return 0
	}
	return a.lastKPI[i]
}

// seen is when the arm last received telemetry.
func (a *Arm) seen() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastSeen
}

// trendRecent is the end of the baseline compared with the rest of it.
const trendRecent = 2 * time.Minute

// trend says whether the arm was already degrading at the end of its
// baseline: its failure rate over the last trendRecent materially and
// significantly (z > 3.09, one-sided 99.9%) above the earlier part. Empty
// when it was steady, or when there is too little to tell.
func (a *Arm) trend(cfg *Config) string {
	n := a.coarse.len()
	if n == 0 {
		return ""
	}
	end := a.coarse.start(n - 1)
	var early, late counts
	for i := range n {
		r := a.coarse.row(i)
		if int64(end-a.coarse.startOf(r)) < int64(trendRecent/time.Second) {
			late.add(countsOf(&r))
		} else {
			early.add(countsOf(&r))
		}
	}
	if early.requests < float64(cfg.MinSamples) || late.requests < float64(cfg.MinSamples) {
		return ""
	}
	pe, pl := early.failures/early.requests, late.failures/late.requests
	if pl < pe*(1+cfg.MinRelativeEffect) || pl-pe < cfg.MinAbsoluteEffect {
		return ""
	}
	p := (early.failures + late.failures) / (early.requests + late.requests)
	se := math.Sqrt(p * (1 - p) * (1/early.requests + 1/late.requests))
	if se == 0 || (pl-pe)/se < 3.09 {
		return ""
	}
	return fmt.Sprintf("it was already degrading before the deploy (%s failed in its last %s, %s before)", pct(pl), trendRecent, pct(pe))
}

// baseline sums the arm's recent counts and latency: what it looked like
// just before now.
func (a *Arm) baseline() (counts, Histogram) {
	var c counts
	for i := range a.coarse.len() {
		c.add(a.coarse.counts(i))
	}
	return c, a.windowHist()
}

// windowHist is the recent latency: both generations of the window.
func (a *Arm) windowHist() Histogram {
	var h Histogram
	for i := range a.window {
		a.window[i].addTo(&h)
	}
	return h
}

// Exemplars returns up to maxExemplars trace ids of recent failing
// requests, newest first.
func (a *Arm) Exemplars() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := int(a.exCount)
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		id := a.exemplars[(int(a.exHead)+maxExemplars-1-i)%maxExemplars]
		out = append(out, id.String())
	}
	return out
}

// peerSnapshot copies the cumulative dependency counts.
func (a *Arm) peerSnapshot() []peerCalls {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.peers)
}
