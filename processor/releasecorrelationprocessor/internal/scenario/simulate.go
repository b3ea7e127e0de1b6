package scenario

import (
	"math"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
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
}

// NewSim starts a simulation.
func NewSim(s Scenario) *Sim {
	return &Sim{s: s, r: rand.New(rand.NewPCG(s.Seed, uint64(len(s.ID))))}
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
func (sim *Sim) Step() (ptrace.Traces, plog.Logs, bool) {
	td, ld := ptrace.NewTraces(), plog.NewLogs()
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
	sim.emit(td, ld, OtherService, "v7.0.0", sim.s.Others, minute, now)
	sim.sec++
	return td, ld, after
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

	rs := td.ResourceSpans().AppendEmpty()
	setResource(rs.Resource().Attributes(), service, version)
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	end := pcommon.NewTimestampFromTime(now)
	for i := 0; i < n; i++ {
		sp := spans.AppendEmpty()
		sp.SetKind(ptrace.SpanKindServer)
		var tid pcommon.TraceID
		tid[0], tid[1], tid[2], tid[3] = byte(sim.sec>>8), byte(sim.sec), byte(i>>8), byte(i)
		tid[15] = byte(sim.r.IntN(256))
		sp.SetTraceID(tid)
		ms := t.LatencyMs * math.Exp(t.LatencySigma*sim.r.NormFloat64())
		if t.TailShare > 0 && sim.r.Float64() < t.TailShare {
			ms *= t.TailFactor
		}
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
