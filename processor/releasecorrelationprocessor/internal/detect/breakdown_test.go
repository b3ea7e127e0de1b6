package detect

import (
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// routeSpans builds a second of server spans spread over routes; failRate
// gives each route's failure rate.
func routeSpans(r *rand.Rand, n int, failRate map[string]float64) ptrace.ScopeSpansSlice {
	routes := []string{"/cart", "/pay", "/search"}
	td := ptrace.NewTraces()
	sss := td.ResourceSpans().AppendEmpty().ScopeSpans()
	ss := sss.AppendEmpty().Spans()
	for i := 0; i < n; i++ {
		route := routes[i%len(routes)]
		sp := ss.AppendEmpty()
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(1)
		sp.SetEndTimestamp(pcommon.Timestamp(1 + 20*time.Millisecond))
		sp.Attributes().PutStr("http.route", route)
		code := int64(200)
		if r.Float64() < failRate[route] {
			code = 500
		}
		sp.Attributes().PutInt("http.response.status_code", code)
	}
	return sss
}

func TestEvidenceNamesTheSliceThatRegressed(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	clk := &fakeClock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	cfg := DefaultConfig()
	cfg.Breakdown = []string{"http.route", "cloud.region"}
	var got []*release.Decision
	d := New(cfg, clk, func(dec *release.Decision) { got = append(got, dec) })
	old, neu := ArmKey{Service: svc, Version: "1.4.1"}, ArmKey{Service: svc, Version: "1.4.2"}
	region := pcommon.NewMap()
	region.PutStr("cloud.region", "eu-west-1")
	base := map[string]float64{"/cart": 0.01, "/pay": 0.01, "/search": 0.01}
	broken := map[string]float64{"/cart": 0.01, "/pay": 0.25, "/search": 0.01}
	step := func(deployed bool) {
		d.Arm(old, "").RecordSpans(d.Classifier(), region, routeSpans(r, 150, base), clk.now)
		if deployed {
			d.Arm(neu, "").RecordSpans(d.Classifier(), region, routeSpans(r, 30, broken), clk.now)
		}
		clk.now = clk.now.Add(time.Second)
		d.Tick()
	}
	for i := 0; i < 60; i++ {
		step(false)
	}
	d.OnRelease(&release.Release{ID: "deploy-1", Status: release.StatusInProgress, StartedAt: clk.now,
		Attributes: map[string]string{release.AttrServiceName: "checkout", release.AttrServiceNamespace: "shop",
			release.AttrServiceVersion: "v1.4.2", release.AttrDeploymentEnvironment: "production"},
		Release: release.Context{PreviousVersion: "v1.4.1", Strategy: release.StrategyCanary}})
	for i := 0; i < 120 && len(got) == 0; i++ {
		step(true)
	}
	if len(got) == 0 {
		t.Fatal("no decision")
	}
	e := got[0].Evidence[0]
	if e.Signal != release.SignalErrorRate || len(e.Slices) == 0 {
		t.Fatalf("evidence %+v", e)
	}
	top := e.Slices[0]
	if top.Dimension != "http.route" || top.Value != "/pay" || top.Candidate < 0.15 || top.Control > 0.05 {
		t.Fatalf("the worst slice should be http.route=/pay, got %+v (all: %+v)", top, e.Slices)
	}
	for _, s := range e.Slices {
		if s.Dimension == "http.route" && s.Value == "/search" && s.Candidate > 0.1 {
			t.Fatalf("a healthy route reported as regressed: %+v", s)
		}
	}
	t.Logf("slices: %+v", e.Slices)
}
