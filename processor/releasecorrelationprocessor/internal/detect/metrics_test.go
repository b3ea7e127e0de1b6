package detect

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func sumMetric(name string, temporality pmetric.AggregationTemporality, start pcommon.Timestamp, values map[string]float64) pmetric.ScopeMetricsSlice {
	md := pmetric.NewMetrics()
	sms := md.ResourceMetrics().AppendEmpty().ScopeMetrics()
	m := sms.AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	s := m.SetEmptySum()
	s.SetAggregationTemporality(temporality)
	for status, v := range values {
		dp := s.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.Attributes().PutStr("status", status)
		dp.SetDoubleValue(v)
	}
	return sms
}

func TestKPIFromCumulativeAndDeltaSums(t *testing.T) {
	a := newArm(ArmKey{}, "", time.Time{}, 10*time.Minute)
	kpis := []KPI{{Name: "orders", Metric: "orders", Attributes: map[string]string{"status": "ok"}, LowerIsBad: true}}
	cls := SpanClassifier{ServerErrorMin: 500}
	now := time.Now()
	cum := pmetric.AggregationTemporalityCumulative
	// The first point of a cumulative stream covers an unknown past: no
	// increase. Then increases count; a filtered-out point never does.
	a.RecordMetrics(cls, kpis, pcommon.NewMap(), sumMetric("orders", cum, 100, map[string]float64{"ok": 50, "failed": 9}), now)
	a.RecordMetrics(cls, kpis, pcommon.NewMap(), sumMetric("orders", cum, 100, map[string]float64{"ok": 58, "failed": 20}), now)
	a.RecordMetrics(cls, kpis, pcommon.NewMap(), sumMetric("orders", cum, 100, map[string]float64{"ok": 61, "failed": 30}), now)
	if got := a.curKPI[0]; got != 11 {
		t.Fatalf("cumulative increases: got %v, want 11", got)
	}
	// A restart (new start time, lower value) is a reset: the new stream
	// counts from zero, so all of its value is new.
	a.RecordMetrics(cls, kpis, pcommon.NewMap(), sumMetric("orders", cum, 200, map[string]float64{"ok": 4}), now)
	a.RecordMetrics(cls, kpis, pcommon.NewMap(), sumMetric("orders", cum, 200, map[string]float64{"ok": 10}), now)
	if got := a.curKPI[0]; got != 21 {
		t.Fatalf("after a reset: got %v, want 21", got)
	}
	// Delta points add as they are.
	a.RecordMetrics(cls, kpis, pcommon.NewMap(), sumMetric("orders", pmetric.AggregationTemporalityDelta, 0, map[string]float64{"ok": 5}), now)
	if got := a.curKPI[0]; got != 26 {
		t.Fatalf("delta: got %v, want 26", got)
	}
}

func TestRequestsFromHTTPServerDuration(t *testing.T) {
	a := newArm(ArmKey{}, "", time.Time{}, 10*time.Minute)
	cls := SpanClassifier{ServerErrorMin: 500}
	point := func(code int64, counts []uint64) pmetric.ScopeMetricsSlice {
		md := pmetric.NewMetrics()
		sms := md.ResourceMetrics().AppendEmpty().ScopeMetrics()
		m := sms.AppendEmpty().Metrics().AppendEmpty()
		m.SetName(HTTPServerDuration)
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := h.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(1)
		dp.Attributes().PutInt("http.response.status_code", code)
		dp.ExplicitBounds().FromRaw([]float64{0.1, 1})
		dp.BucketCounts().FromRaw(counts)
		var n uint64
		for _, c := range counts {
			n += c
		}
		dp.SetCount(n)
		return sms
	}
	now := time.Now()
	a.RecordMetrics(cls, nil, pcommon.NewMap(), point(200, []uint64{10, 2, 0}), now)
	a.RecordMetrics(cls, nil, pcommon.NewMap(), point(503, []uint64{1, 0, 0}), now)
	a.RecordMetrics(cls, nil, pcommon.NewMap(), point(200, []uint64{40, 4, 1}), now)
	a.RecordMetrics(cls, nil, pcommon.NewMap(), point(503, []uint64{6, 0, 0}), now)
	if a.cur.requests != 38 || a.cur.failures != 5 {
		t.Fatalf("requests %v failures %v, want 38 and 5", a.cur.requests, a.cur.failures)
	}
	var h Histogram
	a.curHist.addTo(&h)
	if h.Total() != 38 || h[bucketOf(100*time.Millisecond)] != 35 || h[bucketOf(2*time.Second)] != 1 {
		t.Fatalf("latency buckets wrong: total %d", h.Total())
	}
	// With server spans seen recently, the histogram is not counted again.
	a.lastSpans = now
	a.RecordMetrics(cls, nil, pcommon.NewMap(), point(200, []uint64{80, 4, 1}), now)
	if a.cur.requests != 38 {
		t.Fatalf("requests counted twice: %v", a.cur.requests)
	}
}
