package releasecorrelationprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourceprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const (
	benchResources        = 10
	benchSpansPerResource = 100
	// benchBatches distinct batches are built up front; each operation
	// consumes a fresh copy of one of them, so nothing stamped by an
	// earlier operation is found already in place.
	benchBatches = 16
)

// benchResource is one resource of the realistic batch.
type benchResource struct {
	service, version string
	// known: the store has release state for the service.
	known bool
}

// benchMix is what one agent's batch looks like: the canary service's
// candidate and control pods, a service the store knows with no rollout,
// and services the store has never heard of (most of a cluster), one of
// them without service.version.
var benchMix = []benchResource{
	{"checkout", "v1.4.2", true}, {"checkout", "v1.4.1", true}, {"checkout", "v1.4.1", true},
	{"checkout", "v1.4.1", true}, {"cart", "v7.0.0", true}, {"cart", "v7.0.0", true},
	{"search", "v3.1.0", false}, {"payments", "2026.11.3", false}, {"ads", "v0.9.1", false},
	{"recommendations", "", false},
}

var benchRoutes = []string{"/cart", "/cart/checkout", "/search", "/product/{id}", "/"}

// benchTraces builds a realistic batch: 10 resources (above) of 100 spans
// each; 80% server spans with routes, 2% of them failing with HTTP 503, and
// 20% client calls to a dependency, 1% of them failing.
func benchTraces(r *rand.Rand) ptrace.Traces {
	td := ptrace.NewTraces()
	for i, res := range benchMix {
		rs := td.ResourceSpans().AppendEmpty()
		attrs := rs.Resource().Attributes()
		attrs.PutStr("service.name", res.service)
		attrs.PutStr("service.namespace", "shop")
		attrs.PutStr("deployment.environment.name", "production")
		if res.version != "" {
			attrs.PutStr("service.version", res.version)
		}
		attrs.PutStr("k8s.namespace.name", "shop")
		attrs.PutStr("k8s.pod.name", fmt.Sprintf("%s-7d9f8b6c%d-x2k4p", res.service, i))
		attrs.PutStr("host.name", "node-1")
		attrs.PutStr("cloud.region", "eu-west-1")
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for s := 0; s < benchSpansPerResource; s++ {
			sp := spans.AppendEmpty()
			var tid pcommon.TraceID
			for j := range tid {
				tid[j] = byte(r.IntN(256))
			}
			sp.SetTraceID(tid)
			sp.SetStartTimestamp(pcommon.Timestamp(1_000_000 + r.IntN(1000)))
			sp.SetEndTimestamp(sp.StartTimestamp() + pcommon.Timestamp(1_000_000+r.IntN(200_000_000)))
			if r.IntN(5) == 0 {
				sp.SetName("GET")
				sp.SetKind(ptrace.SpanKindClient)
				sp.Attributes().PutStr("peer.service", "inventory")
				if r.IntN(100) == 0 {
					sp.Status().SetCode(ptrace.StatusCodeError)
				}
				continue
			}
			route := benchRoutes[r.IntN(len(benchRoutes))]
			sp.SetName("GET " + route)
			sp.SetKind(ptrace.SpanKindServer)
			sp.Attributes().PutStr("http.request.method", "GET")
			sp.Attributes().PutStr("http.route", route)
			code := int64(200)
			if r.IntN(50) == 0 {
				code = 503
			}
			sp.Attributes().PutInt("http.response.status_code", code)
		}
	}
	return td
}

// stampedAttributes are what the processor writes on a candidate resource;
// the resource processor is configured to write the same number.
var stampedAttributes = []string{
	"deployment.id", "release.role", "vcs.ref.head.revision", "release.previous_version",
	"release.strategy", "release.rollout.percentage", "release.owner",
}

// runTracesBench consumes a fresh copy of a prepared batch per operation.
func runTracesBench(b *testing.B, p processor.Traces) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	templates := make([]ptrace.Traces, benchBatches)
	for i := range templates {
		templates[i] = benchTraces(r)
	}
	n := 0
	batches := newFresh(b, templates[0], func(ptrace.Traces) ptrace.Traces {
		td := ptrace.NewTraces()
		templates[n%benchBatches].CopyTo(td)
		n++
		return td
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.ConsumeTraces(ctx, batches.next()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchResources*benchSpansPerResource), "ns/span")
}

// benchStore starts a store holding what a running deployment has: a canary
// of checkout under way (started now, so detection evaluates it whenever the
// benchmark runs), cart stable, and 1,000 other services.
func benchStore(b *testing.B) component.Host {
	st, h := startStore(b)
	now := time.Now().UTC()
	at := func(e release.Event) release.Event {
		e.Time, e.ReceivedAt = now, now
		return e
	}
	pct := 10.0
	record(b, st, at(event("d2", release.EventStarted, "v1.4.2", 0,
		release.Context{PreviousVersion: "v1.4.1", Strategy: release.StrategyCanary, RolloutPercentage: &pct, Owner: "team-payments"})))
	cart := at(event("cart-7", release.EventSucceeded, "v7.0.0", 0, release.Context{}))
	cart.Attributes[release.AttrServiceName] = "cart"
	record(b, st, cart)
	for i := 0; i < 1000; i++ {
		e := at(event(fmt.Sprintf("o%d", i), release.EventSucceeded, "v1", 0, release.Context{}))
		e.Attributes[release.AttrServiceName] = fmt.Sprintf("svc-%d", i)
		record(b, st, e)
	}
	return h
}

// BenchmarkConsumeTraces compares, in one run, the stock resource processor
// upserting 7 attributes per resource with this processor stamping the same
// 7 (stamping only), and stamping with detection and two breakdown
// dimensions, on fresh realistic batches.
func BenchmarkConsumeTraces(b *testing.B) {
	b.Run("resourceprocessor_upsert_7", func(b *testing.B) {
		f := resourceprocessor.NewFactory()
		cfg := f.CreateDefaultConfig()
		var actions []any
		for _, a := range stampedAttributes {
			actions = append(actions, map[string]any{"key": a, "value": "x", "action": "upsert"})
		}
		require.NoError(b, confmap.NewFromStringMap(map[string]any{"attributes": actions}).Unmarshal(cfg))
		p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
		require.NoError(b, err)
		runTracesBench(b, p)
	})
	for _, detection := range []bool{false, true} {
		name := "releasecorrelation_stamp"
		if detection {
			name += "_and_detect"
		}
		b.Run(name, func(b *testing.B) {
			h := benchStore(b)
			cfg := createDefaultConfig().(*Config)
			cfg.Attributes.Traces = stampedAttributes
			cfg.Detection.Enabled = detection
			cfg.Detection.Breakdown = []string{"http.route", "cloud.region"}
			p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(Type), cfg, consumertest.NewNop())
			require.NoError(b, err)
			require.NoError(b, p.Start(context.Background(), h))
			defer func() { require.NoError(b, p.Shutdown(context.Background())) }()
			runTracesBench(b, p)
		})
	}
}
