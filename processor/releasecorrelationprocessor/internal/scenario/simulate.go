package scenario

import (
	"fmt"
	"hash/fnv"
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

// replicaSets are the pod-template hashes of each version's ReplicaSet.
var replicaSets = map[string]string{PreviousVersion: Service + "-7d9f8b6c5", NewVersion: Service + "-5c4f9d7b8"}

// Start is when every simulation begins.
var Start = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// Sim produces a scenario's telemetry one second at a time.
type Sim struct {
	s   Scenario
	r   *rand.Rand
	sec int
	md  pmetric.Metrics
	// orders is the cumulative KPI counter per service version.
	orders map[string]float64
	// pods per service@version, created when the version first serves.
	pods map[string][]*pod
	// serving: the versions of the deployed service that served last second.
	serving map[string]bool
}

// pod is one resource of a version: its identity, and its
// http.server.request.duration since it started (cumulative) or since its
// last export (delta).
type pod struct {
	service, version string
	name, instance   string
	every, phase     int
	started, last    pcommon.Timestamp
	http             *httpCumulative
}

// httpCumulative is a histogram of http.server.request.duration, per status
// code.
type httpCumulative struct {
	count   map[int64]uint64
	sum     map[int64]float64
	buckets map[int64][]uint64
}

func newHTTP() *httpCumulative {
	return &httpCumulative{count: map[int64]uint64{}, sum: map[int64]float64{}, buckets: map[int64][]uint64{}}
}

// HTTPBounds are the explicit bounds (seconds) of the simulated
// http.server.request.duration, those the semantic convention advises.
var HTTPBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// NewSim starts a simulation.
func NewSim(s Scenario) *Sim {
	return &Sim{s: s, r: rand.New(rand.NewPCG(s.Seed, uint64(len(s.ID)))), orders: map[string]float64{},
		pods: map[string][]*pod{}, serving: map[string]bool{}}
}

// Seconds is the simulation's length.
func (sim *Sim) Seconds() int { return sim.s.BeforeSeconds + sim.s.AfterSeconds }

// DeployTime is when the new version starts rolling out.
func (sim *Sim) DeployTime() time.Time {
	return Start.Add(time.Duration(sim.s.BeforeSeconds) * time.Second)
}

// Now is the simulated time of the next second.
func (sim *Sim) Now() time.Time { return Start.Add(time.Duration(sim.sec) * time.Second) }

func (sim *Sim) event(typ release.EventType, at time.Time, ctx release.Context) release.Event {
	env := sim.s.EventEnvironment
	if env == "" {
		env = Environment
	}
	return release.Event{
		ID: DeploymentID, Type: typ, Time: at, ReceivedAt: at, Source: "native", Release: ctx,
		Attributes: map[string]string{
			release.AttrServiceName: Service, release.AttrServiceNamespace: Namespace,
			release.AttrServiceVersion: NewVersion, release.AttrDeploymentEnvironment: env,
		},
	}
}

// Deploy is the deploy event of the new version, as its CI/CD system would
// post it.
func (sim *Sim) Deploy() release.Event {
	strategy := release.Strategy(sim.s.Strategy)
	if sim.s.Strategy == "progressive" {
		strategy = release.StrategyCanary
	}
	switch sim.s.DeclaredStrategy {
	case "":
	case "none":
		strategy = ""
	default:
		strategy = release.Strategy(sim.s.DeclaredStrategy)
	}
	ctx := release.Context{PreviousVersion: PreviousVersion, Strategy: strategy}
	if sim.s.NoPreviousVersion {
		ctx.PreviousVersion = ""
	}
	if len(sim.s.Rollout) > 0 {
		p := sim.s.Rollout[0].Percentage
		ctx.RolloutPercentage = &p
	}
	return sim.event(release.EventStarted, sim.DeployTime(), ctx)
}

// Events are every deploy event of the scenario: its deploy, and the
// progressed events of a progressive rollout. Nothing a real user would not
// have: no earlier deploy of the previous version or of the rest of the
// environment.
func (sim *Sim) Events() []release.Event {
	deploy := sim.Deploy()
	out := []release.Event{deploy}
	for _, st := range sim.s.Rollout[min(1, len(sim.s.Rollout)):] {
		ctx := deploy.Release
		p := st.Percentage
		ctx.RolloutPercentage = &p
		at := sim.DeployTime().Add(time.Duration(st.AfterSeconds) * time.Second)
		out = append(out, sim.event(release.EventProgressed, at, ctx))
	}
	return out
}

// percentage is the candidate's share of a progressive rollout, since
// seconds after the deploy.
func (sim *Sim) percentage(since int) float64 {
	p := 0.0
	for _, st := range sim.s.Rollout {
		if since >= st.AfterSeconds {
			p = st.Percentage
		}
	}
	return p / 100
}

// Step returns the telemetry of the next second, and whether it is at or
// after the deploy.
func (sim *Sim) Step() (ptrace.Traces, plog.Logs, pmetric.Metrics, bool) {
	td, ld, md := ptrace.NewTraces(), plog.NewLogs(), pmetric.NewMetrics()
	sim.md = md
	after := sim.sec >= sim.s.BeforeSeconds
	since := sim.sec - sim.s.BeforeSeconds
	minute := float64(sim.sec) / 60
	now := sim.Now()
	serving := map[string]bool{}
	serve := func(version string, t Traffic, share float64) {
		serving[version] = true
		sim.emit(td, ld, Service, version, t, share, minute, now)
	}
	switch {
	case !after:
		serve(PreviousVersion, sim.s.Before, 1)
	case sim.s.Strategy == "canary":
		serve(NewVersion, sim.s.Candidate, 1)
		serve(PreviousVersion, sim.s.Control, 1)
	case sim.s.Strategy == "progressive":
		p := sim.percentage(since)
		serve(NewVersion, sim.s.Candidate, p)
		if p < 1 {
			serve(PreviousVersion, sim.s.Control, 1-p)
		}
	case since < sim.s.DrainSeconds:
		// The old pods drain: a shrinking share of requests still reach
		// them while the new ones take over.
		f := float64(since+1) / float64(sim.s.DrainSeconds+1)
		serve(NewVersion, sim.s.Candidate, f)
		serve(PreviousVersion, sim.s.Before, 1-f)
	default:
		serve(NewVersion, sim.s.Candidate, 1)
	}
	// A version that stopped serving flushes its pods' metrics once, as
	// SDKs do on shutdown.
	for v := range sim.serving {
		if !serving[v] {
			for _, p := range sim.pods[Service+"@"+v] {
				sim.exportHTTP(p, pcommon.NewTimestampFromTime(now))
			}
		}
	}
	sim.serving = serving
	if !sim.s.Lone {
		others := sim.s.Others
		if after && sim.s.OthersAfter != nil {
			others = *sim.s.OthersAfter
		}
		sim.emit(td, ld, OtherService, "v7.0.0", others, 1, minute, now)
	}
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

// podsOf returns a version's pods, creating them when it first serves. The
// deployed service has Scenario.Pods of them; anything else one resource.
func (sim *Sim) podsOf(service, version string, now time.Time) []*pod {
	key := service + "@" + version
	if ps, ok := sim.pods[key]; ok {
		return ps
	}
	started := pcommon.NewTimestampFromTime(Start)
	if version == NewVersion {
		started = pcommon.NewTimestampFromTime(now.Add(-time.Second))
	}
	n := 1
	if service == Service && sim.s.Pods > 0 {
		n = sim.s.Pods
	}
	// Pod identities, intervals and phases come from their own generator,
	// so that they do not shift the traffic's.
	h := fnv.New64a()
	h.Write([]byte(key))
	r := rand.New(rand.NewPCG(sim.s.Seed, h.Sum64()))
	ps := make([]*pod, n)
	for i := range ps {
		p := &pod{service: service, version: version, every: 1, started: started, last: started, http: newHTTP()}
		if service == Service && sim.s.Pods > 0 {
			const alphabet = "bcdfghjklmnpqrstvwxz2456789"
			var suffix [5]byte
			for j := range suffix {
				suffix[j] = alphabet[r.IntN(len(alphabet))]
			}
			p.name = replicaSets[version] + "-" + string(suffix[:])
			p.instance = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()>>16)
			if e := sim.s.Export; e != nil {
				p.every = e.MinSeconds + r.IntN(e.MaxSeconds-e.MinSeconds+1)
				p.phase = r.IntN(p.every)
			}
		}
		ps[i] = p
	}
	sim.pods[key] = ps
	return ps
}

// resource sets a resource's attributes: versioned says whether this signal
// carries service.version.
func (sim *Sim) resource(attrs pcommon.Map, p *pod, versioned bool) {
	env := sim.s.TelemetryEnvironment
	if env == "" {
		env = Environment
	}
	attrs.PutStr("service.name", p.service)
	attrs.PutStr("service.namespace", Namespace)
	if versioned {
		attrs.PutStr("service.version", p.version)
	}
	attrs.PutStr("deployment.environment.name", env)
	if p.name == "" {
		return
	}
	if sim.s.Unversioned {
		attrs.PutStr("k8s.pod.name", p.name)
		attrs.PutStr("k8s.deployment.name", p.service)
	} else {
		attrs.PutStr("service.instance.id", p.instance)
	}
}

// emit adds one second of a version's spans, logs and metrics; share scales
// its requests.
func (sim *Sim) emit(td ptrace.Traces, ld plog.Logs, service, version string, t Traffic, share, minute float64, now time.Time) {
	pods := sim.podsOf(service, version, now)
	end := pcommon.NewTimestampFromTime(now)
	deployed := service == Service
	versioned := !(deployed && sim.s.Unversioned)
	n := 0
	for _, p := range pods {
		n += sim.emitPod(td, ld, p, t, share/float64(len(pods)), minute, end, versioned, deployed && sim.s.VersionedLogs)
	}
	if t.OrdersPerRequest > 0 && n > 0 {
		key := service + "@" + version
		sim.orders[key] += float64(sim.poisson(float64(n) * t.OrdersPerRequest))
		rm := sim.md.ResourceMetrics().AppendEmpty()
		sim.resource(rm.Resource().Attributes(), &pod{service: service, version: version}, true)
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
}

// emitPod adds one second of a pod's telemetry and returns its requests.
func (sim *Sim) emitPod(td ptrace.Traces, ld plog.Logs, p *pod, t Traffic, share, minute float64, end pcommon.Timestamp, versioned, versionedLogs bool) int {
	n := sim.poisson(t.RPS * share)
	errorRate := t.ErrorRate * math.Pow(1+t.DriftPerMinute, minute)
	if t.Burstiness > 0 && n > 0 {
		// A gamma-like factor with mean 1 and the given coefficient of
		// variation, from a log-normal.
		s2 := math.Log(1 + t.Burstiness*t.Burstiness)
		errorRate *= math.Exp(math.Sqrt(s2)*sim.r.NormFloat64() - s2/2)
	}
	errorRate = math.Min(errorRate, 1)

	if t.MetricsOnly {
		sim.observeHTTP(p, t, n, errorRate)
		if (sim.sec+p.phase)%p.every == 0 {
			sim.exportHTTP(p, end)
		}
		sim.emitLogs(ld, p, t, n, end, versioned || versionedLogs)
		return n
	}
	if n == 0 {
		return 0
	}
	rs := td.ResourceSpans().AppendEmpty()
	sim.resource(rs.Resource().Attributes(), p, versioned)
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	spans.EnsureCapacity(n + int(float64(n)*t.PeerShare) + 1)
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
	sim.emitLogs(ld, p, t, n, end, versioned || versionedLogs)
	return n
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

// observeHTTP records n requests in a pod's http.server.request.duration.
func (sim *Sim) observeHTTP(p *pod, t Traffic, n int, errorRate float64) {
	c := p.http
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
}

// exportHTTP adds a pod's http.server.request.duration points, one per
// status code: cumulative since the pod started, or (Export.Delta) the
// requests since its last export.
func (sim *Sim) exportHTTP(p *pod, end pcommon.Timestamp) {
	delta := sim.s.Export != nil && sim.s.Export.Delta
	c := p.http
	if c.count[200]+c.count[503] == 0 {
		// Nothing to report yet (or, delta, since the last export).
		p.last = end
		return
	}
	rm := sim.md.ResourceMetrics().AppendEmpty()
	sim.resource(rm.Resource().Attributes(), p, !(p.service == Service && sim.s.Unversioned))
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("http.server.request.duration")
	m.SetUnit("s")
	h := m.SetEmptyHistogram()
	start := p.started
	if delta {
		h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		start = p.last
	} else {
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	}
	for _, code := range []int64{200, 503} {
		if c.count[code] == 0 {
			continue
		}
		dp := h.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(end)
		dp.Attributes().PutInt("http.response.status_code", code)
		dp.SetCount(c.count[code])
		dp.SetSum(c.sum[code])
		dp.ExplicitBounds().FromRaw(HTTPBounds)
		dp.BucketCounts().FromRaw(c.buckets[code])
	}
	p.last = end
	if delta {
		p.http = newHTTP()
	}
}

// emitLogs adds a pod's log records for n requests.
func (sim *Sim) emitLogs(ld plog.Logs, p *pod, t Traffic, n int, end pcommon.Timestamp, versioned bool) {
	if t.LogsPerRequest <= 0 || n == 0 {
		return
	}
	nl := sim.poisson(float64(n) * t.LogsPerRequest)
	if nl == 0 {
		return
	}
	rl := ld.ResourceLogs().AppendEmpty()
	sim.resource(rl.Resource().Attributes(), p, versioned)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	lrs.EnsureCapacity(nl)
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
