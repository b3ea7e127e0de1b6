package detect

import (
	"hash/maphash"
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// HTTPServerDuration is the semantic-convention metric that stands in for
// server spans when a service sends metrics only.
const HTTPServerDuration = "http.server.request.duration"

// stream is what a cumulative metric stream last reported.
type stream struct {
	start   pcommon.Timestamp
	value   float64
	count   uint64
	buckets []uint64
}

var seed = maphash.MakeSeed()

// resourceID hashes a resource's attributes: several pods of one version
// report streams of the same name and point attributes, told apart only by
// their resource (service.instance.id, k8s.pod.uid...).
func resourceID(attrs pcommon.Map) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	attrs.Range(func(k string, v pcommon.Value) bool {
		h.WriteString(k)
		h.WriteByte(1)
		h.WriteString(v.AsString())
		h.WriteByte(0)
		return true
	})
	return h.Sum64()
}

// streamID hashes a data point's identity within an arm: its resource, the
// metric name and the point's attributes.
func streamID(resource uint64, metric string, attrs pcommon.Map) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	var b [8]byte
	for i := range b {
		b[i] = byte(resource >> (8 * i))
	}
	h.Write(b[:])
	h.WriteString(metric)
	attrs.Range(func(k string, v pcommon.Value) bool {
		h.WriteByte(0)
		h.WriteString(k)
		h.WriteByte(1)
		h.WriteString(v.AsString())
		return true
	})
	return h.Sum64()
}

// streamFor returns the stream state, or nil when the cap is reached.
// Called with a.mu held.
func (a *Arm) streamFor(id uint64) *stream {
	st, ok := a.streams[id]
	if ok {
		return st
	}
	if len(a.streams) >= maxStreams {
		return nil
	}
	if a.streams == nil {
		a.streams = map[uint64]*stream{}
	}
	st = &stream{}
	a.streams[id] = st
	return st
}

// delta turns a cumulative value into the increase since the last point of
// the stream. The first point of a stream that started before the detector
// did gives no increase (its value covers an unknown past); one that started
// since, and a reset, count from zero.
func (a *Arm) delta(c *SpanClassifier, resource uint64, metric string, attrs pcommon.Map, start pcommon.Timestamp, value float64) float64 {
	st := a.streamFor(streamID(resource, metric, attrs))
	if st == nil {
		return 0
	}
	first := st.start == 0 && st.value == 0
	reset := !first && (start != st.start || value < st.value)
	d := value - st.value
	st.start, st.value = start, value
	switch {
	case first:
		if c.watched(start) {
			return value
		}
		return 0
	case reset:
		return value
	}
	return d
}

// watched reports whether a stream that started at start began after the
// detector did.
func (c *SpanClassifier) watched(start pcommon.Timestamp) bool {
	return start != 0 && c.WatchStart != 0 && start >= c.WatchStart
}

// KPI is a business metric compared per request between versions.
type KPI struct {
	Name string
	// Metric is the metric name; Attributes filter its data points (all
	// must match).
	Metric     string
	Attributes map[string]string
	// LowerIsBad: a drop is the regression (orders); otherwise a rise is.
	LowerIsBad bool
}

func matches(attrs pcommon.Map, want map[string]string) bool {
	for k, v := range want {
		got, ok := attrs.Get(k)
		if !ok || got.AsString() != v {
			return false
		}
	}
	return true
}

// RecordMetrics tallies one resource's metrics: configured KPIs (sums and
// gauges of counts, delta or cumulative) and, when the arm has no server
// spans, requests, failures and latency from http.server.request.duration.
func (a *Arm) RecordMetrics(c SpanClassifier, kpis []KPI, resource pcommon.Map, sms pmetric.ScopeMetricsSlice, now time.Time) {
	a.ref.Store(true)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastSeen = now
	var res uint64
	resHashed := false
	resID := func() uint64 {
		if !resHashed {
			res, resHashed = resourceID(resource), true
		}
		return res
	}
	useHTTP := a.lastSpans.IsZero() || now.Sub(a.lastSpans) > spanSourceMemory
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			if useHTTP && m.Name() == HTTPServerDuration && m.Type() == pmetric.MetricTypeHistogram {
				a.recordHTTPDuration(&c, resID(), m)
			}
			for k := range kpis {
				if kpis[k].Metric == m.Name() {
					a.kpi(&c, resID, k, &kpis[k], m)
				}
			}
		}
	}
}

func (a *Arm) kpi(c *SpanClassifier, resID func() uint64, i int, k *KPI, m pmetric.Metric) {
	var dps pmetric.NumberDataPointSlice
	cumulative := false
	switch m.Type() {
	case pmetric.MetricTypeSum:
		dps = m.Sum().DataPoints()
		cumulative = m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	case pmetric.MetricTypeGauge:
		dps = m.Gauge().DataPoints()
	default:
		return
	}
	for j := 0; j < dps.Len(); j++ {
		dp := dps.At(j)
		if !matches(dp.Attributes(), k.Attributes) {
			continue
		}
		v := dp.DoubleValue()
		if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
			v = float64(dp.IntValue())
		}
		if cumulative {
			v = a.delta(c, resID(), m.Name(), dp.Attributes(), dp.StartTimestamp(), v)
		}
		if v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) {
			if a.curKPI == nil {
				a.curKPI = new([MaxKPIs]float64)
			}
			a.curKPI[i] += v
		}
	}
}

// recordHTTPDuration adds the requests of http.server.request.duration
// points: their count (failures where http.response.status_code is a server
// error) and their latency, each bucket's requests at its upper bound.
func (a *Arm) recordHTTPDuration(c *SpanClassifier, resource uint64, m pmetric.Metric) {
	h := m.Histogram()
	cumulative := h.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	dps := h.DataPoints()
	for j := 0; j < dps.Len(); j++ {
		dp := dps.At(j)
		counts := dp.BucketCounts().AsRaw()
		total := dp.Count()
		if cumulative {
			st := a.streamFor(streamID(resource, m.Name(), dp.Attributes()))
			if st == nil {
				continue
			}
			first := st.start == 0 && st.count == 0
			reset := !first && (dp.StartTimestamp() != st.start || total < st.count || len(counts) != len(st.buckets))
			// prev must not share st.buckets' array, which is overwritten.
			prev, prevTotal := append([]uint64(nil), st.buckets...), st.count
			st.start, st.count, st.buckets = dp.StartTimestamp(), total, append(st.buckets[:0], counts...)
			if first && !c.watched(dp.StartTimestamp()) {
				continue
			}
			if first || reset {
				// Watched from its start, or restarted: all of it is new.
				prev, prevTotal = make([]uint64, len(counts)), 0
			}
			delta := make([]uint64, len(counts))
			for b := range counts {
				delta[b] = counts[b] - prev[b]
			}
			counts, total = delta, total-prevTotal
		}
		if total == 0 {
			continue
		}
		a.cur.requests += float64(total)
		if code, ok := intAttr(dp.Attributes(), "http.response.status_code"); ok && code >= c.ServerErrorMin {
			a.cur.failures += float64(total)
		}
		bounds := dp.ExplicitBounds()
		for b, n := range counts {
			if n == 0 {
				continue
			}
			// Seconds, per the semantic convention; the overflow bucket
			// is recorded at twice the last bound.
			var upper float64
			switch {
			case b < bounds.Len():
				upper = bounds.At(b)
			case bounds.Len() > 0:
				upper = 2 * bounds.At(bounds.Len()-1)
			default:
				upper = dp.Sum() / float64(total)
			}
			if a.curHist == nil {
				a.curHist = new(spanHistogram)
			}
			a.curHist.addBucket(bucketOf(time.Duration(upper*float64(time.Second))), uint32(n))
			a.histDirty = true
		}
	}
}
