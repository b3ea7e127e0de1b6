package releasecorrelationprocessor

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// serving is one second of a resource's server spans.
type serving struct {
	resource  map[string]any
	rps       int
	errorRate float64
}

// second builds one second of spans ending at at.
func second(r *rand.Rand, at time.Time, servers ...serving) ptrace.Traces {
	td := ptrace.NewTraces()
	end := pcommon.NewTimestampFromTime(at)
	for _, s := range servers {
		rs := td.ResourceSpans().AppendEmpty()
		require.NoError(nil, rs.Resource().Attributes().FromRaw(s.resource))
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i := 0; i < s.rps; i++ {
			sp := spans.AppendEmpty()
			sp.SetKind(ptrace.SpanKindServer)
			var tid pcommon.TraceID
			tid[0], tid[1], tid[15] = byte(i), byte(r.IntN(256)), byte(at.Unix())
			sp.SetTraceID(tid)
			sp.SetStartTimestamp(end - pcommon.Timestamp((40+r.IntN(20))*int(time.Millisecond)))
			sp.SetEndTimestamp(end)
			code := int64(200)
			if r.Float64() < s.errorRate {
				code = 503
			}
			sp.Attributes().PutInt("http.response.status_code", code)
		}
	}
	return td
}

// canaryTraffic is v1.4.1 serving alone for two minutes, then next to a
// failing v1.4.2 (stable's rps drops by what the new version takes).
func canaryTraffic(seed uint64, seconds, stableRPS, newRPS int, newErrors float64) []ptrace.Traces {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []ptrace.Traces
	for s := 0; s < seconds; s++ {
		at := t0.Add(time.Duration(s) * time.Second)
		servers := []serving{{resource: resourceAttrs("v1.4.1"), rps: stableRPS, errorRate: 0.01}}
		if s >= 120 {
			servers[0].rps = stableRPS - newRPS
			servers = append(servers, serving{resource: resourceAttrs("v1.4.2"), rps: newRPS, errorRate: newErrors})
		}
		out = append(out, second(r, at, servers...))
	}
	return out
}

// rollbackOf returns the first rollback decided.
func rollbackOf(t *testing.T, out *ReplayResult) *release.Decision {
	t.Helper()
	for _, d := range out.Decisions {
		if d.Action == release.ActionRollback {
			return d
		}
	}
	t.Fatalf("no rollback: %+v", out.Decisions)
	return nil
}

// The first paragraph of issue 8, as a new user meets it: services already
// send telemetry, the collector has no release state at all, and the first
// deploy event arrives for a canary. v1.4.1 was never deployed through the
// collector; it is the control all the same.
func TestFirstDeployWithoutHistoryIsDecided(t *testing.T) {
	deployAt := t0.Add(2 * time.Minute)
	in := ReplayInput{Traces: canaryTraffic(8, 240, 100, 10, 0.06)}
	pct := 10.0
	in.Events = []release.Event{event("deploy-4711", release.EventStarted, "v1.4.2", 2*time.Minute,
		release.Context{PreviousVersion: "v1.4.1", Strategy: release.StrategyCanary, RolloutPercentage: &pct})}
	in.StopWhen = func(d *release.Decision) bool { return d.Action == release.ActionRollback }
	out, err := Replay(context.Background(), createDefaultConfig().(*Config), in)
	require.NoError(t, err)
	d := rollbackOf(t, out)
	assert.Equal(t, release.CauseEndogenous, d.Cause)
	assert.Equal(t, "deploy-4711", d.ReleaseID())
	assert.Equal(t, "v1.4.1", d.Release["previous_version"])
	assert.Greater(t, d.Evidence[0].Samples.Control, int64(500), "the control was counted")
	t.Logf("decided %s after the deploy: %s", d.DecidedAt.Sub(deployAt), d.Rationale)
}

// A deploy posted as "prod" is stored as "production"; telemetry saying
// "PROD" (or the deprecated deployment.environment) meets it.
func TestEnvironmentAliasesApplyToTelemetry(t *testing.T) {
	st, h := startStore(t)
	record(t, st, event("d1", release.EventSucceeded, "v1.4.1", 0, release.Context{}))
	sink, consume := startTraces(t, createDefaultConfig().(*Config), h)
	consume(traces(
		map[string]any{"service.name": "checkout", "service.namespace": "shop", "deployment.environment.name": "PROD", "service.version": "v1.4.1"},
		map[string]any{"service.name": "checkout", "service.namespace": "shop", "deployment.environment": "prd", "service.version": "v1.4.1"},
	))
	got := sink.AllTraces()[0].ResourceSpans()
	for i := 0; i < got.Len(); i++ {
		id, ok := got.At(i).Resource().Attributes().Get("deployment.id")
		require.True(t, ok, "resource %d not stamped: %v", i, got.At(i).Resource().Attributes().AsRaw())
		assert.Equal(t, "d1", id.Str())
	}
}

// Resources without service.version (only the pod's name) get the version
// their pod's siblings say, learned from the same ReplicaSet; the control of
// a canary the store never saw deployed is still the control.
func TestUnversionedResourcesLearnTheirVersion(t *testing.T) {
	st, h := startStore(t)
	record(t, st, event("d2", release.EventStarted, "v1.4.2", 0, release.Context{PreviousVersion: "v1.4.1", Strategy: release.StrategyCanary}))
	sink, consume := startTraces(t, createDefaultConfig().(*Config), h)
	consume(traces(
		resourceAttrs("v1.4.2", "k8s.pod.name", "checkout-7d9f8b6c5-x2k4p"),
		resourceAttrs("v1.4.1", "k8s.pod.name", "checkout-5c6b7f8d9-q8m2n"),
	))
	consume(traces(
		resourceAttrs("", "k8s.pod.name", "checkout-7d9f8b6c5-h7j9k"), // a sibling of the v1.4.2 pod
		resourceAttrs("", "k8s.pod.name", "checkout-5c6b7f8d9-q8m2n"), // the v1.4.1 pod's other signal
		resourceAttrs("", "k8s.pod.name", "checkout-1a2b3c4d5-zzzzz"), // nothing known
	))
	first := sink.AllTraces()[0].ResourceSpans()
	assert.Equal(t, "candidate", role(first.At(0)))
	assert.Equal(t, "control", role(first.At(1)), "the named previous version is the control, deployed or not")
	got := sink.AllTraces()[1].ResourceSpans()
	for i, want := range []struct{ role, version string }{{"candidate", "v1.4.2"}, {"control", "1.4.1"}, {"unknown", ""}} {
		attrs := got.At(i).Resource().Attributes()
		assert.Equal(t, want.role, role(got.At(i)), "resource %d", i)
		got := ""
		if v, ok := attrs.Get("service.version"); ok {
			got = v.Str()
		}
		assert.Equal(t, want.version, got, "resource %d: %v", i, attrs.AsRaw())
	}
}

// With implicit_releases on, a new version appearing in an established
// service's telemetry, with no deploy event at all, is evaluated on its own
// and its decision says where it came from.
func TestImplicitReleaseFromTelemetry(t *testing.T) {
	appearAt := t0.Add(2 * time.Minute)
	in := ReplayInput{Traces: canaryTraffic(9, 300, 100, 20, 0.08)}
	cfg := createDefaultConfig().(*Config)
	cfg.Detection.ImplicitReleases = true
	in.StopWhen = func(d *release.Decision) bool { return d.Action == release.ActionRollback }
	out, err := Replay(context.Background(), cfg, in)
	require.NoError(t, err)
	d := rollbackOf(t, out)
	assert.Equal(t, release.SourceObserved, d.Release["source"])
	assert.True(t, strings.HasPrefix(d.ReleaseID(), "observed:production:shop.checkout:v1.4.2"), d.ReleaseID())
	assert.Equal(t, "v1.4.1", d.Release["previous_version"])
	assert.Contains(t, d.Rationale, "seen in the telemetry without a deploy event")
	t.Logf("decided %s after v1.4.2 appeared: %s", d.DecidedAt.Sub(appearAt), d.Rationale)

	// Off (the processor's default), the same telemetry decides nothing.
	in.StopWhen = nil
	out, err = Replay(context.Background(), createDefaultConfig().(*Config), in)
	require.NoError(t, err)
	assert.Empty(t, out.Decisions)
}

// A processor taken from a collector config often names its store; the
// replay's store answers to that name.
func TestReplayHonoursTheProcessorsStoreID(t *testing.T) {
	in := ReplayInput{Traces: canaryTraffic(9, 300, 100, 20, 0.08)}
	cfg := createDefaultConfig().(*Config)
	cfg.Detection.ImplicitReleases = true
	id := component.MustNewIDWithName("releasestore", "main")
	cfg.Store = &id
	in.StopWhen = func(d *release.Decision) bool { return d.Action == release.ActionRollback }
	out, err := Replay(context.Background(), cfg, in)
	require.NoError(t, err)
	rollbackOf(t, out)
}
