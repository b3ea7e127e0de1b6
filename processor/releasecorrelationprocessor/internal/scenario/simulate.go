package scenario

import (
	"math"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// The simulated world: checkout (the service deployed) and cart (the rest of
// the environment), in production.
const (
	Service         = "checkout"
	Namespace       = "shop"
	OtherService    = "cart"
	Environment     = "production"
	PreviousVersion = "v1.0.0"
	NewVersion      = "v1.1.0"
	DeploymentID    = "deploy-sim"
)

// Start is when every simulation begins.
var Start = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// Sim produces a scenario's telemetry one second at a time.
type Sim struct {
	s   Scenario
	r   *rand.Rand
	sec int
	md  pmetric.Metrics
	// cumulative metric state per service version.
	orders map[string]float64
	http   map[string]*httpCumulative
}

// httpCumulative is a version's cumulative http.server.request.duration,
// per status code.
type httpCumulative struct {
	count   map[int64]uint64
	sum     map[int64]float64
	buckets map[int64][]uint64
}

// HTTPBounds are the explicit bounds (seconds) of the simulated
// http.server.request.duration, those the semantic convention advises.
var HTTPBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// NewSim starts a simulation.
func NewSim(s Scenario) *Sim {
	return &Sim{s: s, r: rand.New(rand.NewPCG(s.Seed, uint64(len(s.ID)))), orders: map[string]float64{}, http: map[string]*httpCumulative{}}
}

// Seconds is the simulation's length.
func (sim *Sim) Seconds() int { return sim.s.BeforeSeconds + sim.s.AfterSeconds }

// DeployTime is when the new version starts rolling out.
func (sim *Sim) DeployTime() time.Time {
	return Start.Add(time.Duration(sim.s.BeforeSeconds) * time.Second)
}

// Now is the simulated time of the next second.
func (sim *Sim) Now() time.Time { return Start.Add(time.Duration(sim.sec) * time.Second) }

func event(id string, typ release.EventType, service, version string, at time.Time, ctx release.Context) release.Event {
	return release.Event{
		ID: id, Type: typ, Time: at, ReceivedAt: at, Source: "native", Release: ctx,
		Attributes: map[string]string{
			release.AttrServiceName: service, release.AttrServiceNamespace: Namespace,
			release.AttrServiceVersion: version, release.AttrDeploymentEnvironment: Environment,
		},
	}
}

// History are the deploy events that precede the simulation: the previous
// version and the rest of the environment are live.
func (sim *Sim) History() []release.Event {
	return []release.Event{
		event("prev-"+Service, release.EventSucceeded, Service, PreviousVersion, Start, release.Context{}),
		event("prev-"+OtherService, release.EventSucceeded, OtherService, "v7.0.0", Start, release.Context{}),
	}
}

// Deploy is the deploy event of the new version.
func (sim *Sim) Deploy() release.Event {
	strategy := release.StrategyCanary
	if sim.s.Strategy == "all_at_once" {
		strategy = release.StrategyAllAtOnce
	}
	return event(DeploymentID, release.EventStarted, Service, NewVersion, sim.DeployTime(),
		release.Context{PreviousVersion: PreviousVersion, Strategy: strategy})
}

// Step returns the telemetry of the next second, and whether it is at or
// after the deploy.
func (sim *Sim) Step() (ptrace.Traces, plog.Logs, pmetric.Metrics, bool) {
	td, ld, md := ptrace.NewTraces(), plog.NewLogs(), pmetric.NewMetrics()
	sim.md = md
	after := sim.sec >= sim.s.BeforeSeconds
	minute := float64(sim.sec) / 60
	now := sim.Now()
	if after {
		sim.emit(td, ld, Service, NewVersion, sim.s.Candidate, minute, now)
		if sim.s.Strategy == "canary" {
			sim.emit(td, ld, Service, PreviousVersion, sim.s.Control, minute, now)
		}
	} else {
		sim.emit(td, ld, Service, PreviousVersion, sim.s.Before, minute, now)
	}
	others := sim.s.Others
	if after && sim.s.OthersAfter != nil {
		others = *sim.s.OthersAfter
	}
	sim.emit(td, ld, OtherService, "v7.0.0", others, minute, now)
	sim.sec++
	return td, ld, md, after
}

func (sim *Sim) poisson(mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 50 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*sim.r.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= sim.r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// emit adds one second of a version's spans and logs.
func (sim *Sim) emit(td ptrace.Traces, ld plog.Logs, service, version string, t Traffic, minute float64, now time.Time) {
	n := sim.poisson(t.RPS)
	if n == 0 {
		return
	}
	errorRate := t.ErrorRate * math.Pow(1+t.DriftPerMinute, minute)
	if t.Burstiness > 0 {
		// A gamma-like factor with mean 1 and the given coefficient of
		// variation, from a log-normal.
		s2 := math.Log(1 + t.Burstiness*t.Burstiness)
		errorRate *= math.Exp(math.Sqrt(s2)*sim.r.NormFloat64() - s2/2)
	}
	errorRate = math.Min(errorRate, 1)

	end := pcommon.NewTimestampFromTime(now)
	key := service + "@" + version
	if t.OrdersPerRequest > 0 {
		sim.orders[key] += float64(sim.poisson(float64(n) * t.OrdersPerRequest))
		rm := sim.md.ResourceMetrics().AppendEmpty()
		setResource(rm.Resource().Attributes(), service, version)
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("orders.completed")
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(Start))
		dp.SetTimestamp(end)
		dp.SetDoubleValue(sim.orders[key])
	}
	if t.MetricsOnly {
		sim.emitHTTPMetrics(key, service, version, t, n, errorRate, end)
		sim.emitLogs(ld, service, version, t, n, end)
		return
	}

	rs := td.ResourceSpans().AppendEmpty()
	setResource(rs.Resource().Attributes(), service, version)
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := 0; i < n; i++ {
		sp := spans.AppendEmpty()
		sp.SetKind(ptrace.SpanKindServer)
		var tid pcommon.TraceID
		tid[0], tid[1], tid[2], tid[3] = byte(sim.sec>>8), byte(sim.sec), byte(i>>8), byte(i)
		tid[15] = byte(sim.r.IntN(256))
		sp.SetTraceID(tid)
		ms := sim.latency(t)
		sp.SetStartTimestamp(end - pcommon.Timestamp(ms*1e6))
		sp.SetEndTimestamp(end)
		failed := sim.r.Float64() < errorRate
		if t.Peer != "" && sim.r.Float64() < t.PeerShare {
			c := spans.AppendEmpty()
			c.SetKind(ptrace.SpanKindClient)
			c.SetTraceID(tid)
			c.Attributes().PutStr("peer.service", t.Peer)
			if sim.r.Float64() < t.PeerErrorRate {
				c.Status().SetCode(ptrace.StatusCodeError)
				failed = true
			}
		}
		code := int64(200)
		if failed {
			code = 503
		}
		sp.Attributes().PutInt("http.response.status_code", code)
	}
	sim.emitLogs(ld, service, version, t, n, end)
}

func (sim *Sim) latency(t Traffic) float64 {
	z := sim.r.NormFloat64()
	ms := t.LatencyMs * math.Exp(t.LatencySigma*z)
	// The slowest TailShare of the distribution: z above its quantile.
	if t.TailShare > 0 && z >= math.Sqrt2*math.Erfinv(1-2*t.TailShare) {
		ms *= t.TailFactor
	}
	return ms
}

// emitHTTPMetrics adds a version's cumulative http.server.request.duration
// points, one per status code.
func (sim *Sim) emitHTTPMetrics(key, service, version string, t Traffic, n int, errorRate float64, end pcommon.Timestamp) {
	c := sim.http[key]
	if c == nil {
		c = &httpCumulative{count: map[int64]uint64{}, sum: map[int64]float64{}, buckets: map[int64][]uint64{}}
		sim.http[key] = c
	}
	for i := 0; i < n; i++ {
		code := int64(200)
		if sim.r.Float64() < errorRate {
			code = 503
		}
		sec := sim.latency(t) / 1000
		if c.buckets[code] == nil {
			c.buckets[code] = make([]uint64, len(HTTPBounds)+1)
		}
		b := len(HTTPBounds)
		for j, bound := range HTTPBounds {
			if sec <= bound {
				b = j
				break
			}
		}
		c.buckets[code][b]++
		c.count[code]++
		c.sum[code] += sec
	}
	rm := sim.md.ResourceMetrics().AppendEmpty()
	setResource(rm.Resource().Attributes(), service, version)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("http.server.request.duration")
	m.SetUnit("s")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, code := range []int64{200, 503} {
		if c.count[code] == 0 {
			continue
		}
		dp := h.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(Start))
		dp.SetTimestamp(end)
		dp.Attributes().PutInt("http.response.status_code", code)
		dp.SetCount(c.count[code])
		dp.SetSum(c.sum[code])
		dp.ExplicitBounds().FromRaw(HTTPBounds)
		dp.BucketCounts().FromRaw(c.buckets[code])
	}
}

// emitLogs adds a version's log records for n requests.
func (sim *Sim) emitLogs(ld plog.Logs, service, version string, t Traffic, n int, end pcommon.Timestamp) {
	if t.LogsPerRequest > 0 {
		nl := sim.poisson(float64(n) * t.LogsPerRequest)
		if nl == 0 {
			return
		}
		rl := ld.ResourceLogs().AppendEmpty()
		setResource(rl.Resource().Attributes(), service, version)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := 0; i < nl; i++ {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(end)
			if sim.r.Float64() < t.LogErrorRate {
				lr.SetSeverityNumber(plog.SeverityNumberError)
			} else {
				lr.SetSeverityNumber(plog.SeverityNumberInfo)
			}
		}
	}
}

func setResource(attrs pcommon.Map, service, version string) {
	attrs.PutStr("service.name", service)
	attrs.PutStr("service.namespace", Namespace)
	attrs.PutStr("service.version", version)
	attrs.PutStr("deployment.environment.name", Environment)
}
