package releasecorrelationprocessor

import (
	"github.com/otelcol-release/otelcol-release/internal/testhost"

	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

func freeAddr(t testing.TB) string { return testhost.FreeEndpoint(t) }

// startStore runs a real in-memory release store.
func startStore(t testing.TB) (releasestoreextension.Store, component.Host) {
	t.Helper()
	ctx := context.Background()
	f := releasestoreextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*releasestoreextension.Config)
	cfg.NetAddr.Endpoint = freeAddr(t)
	ext, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
	return ext.(releasestoreextension.Store), testhost.New(map[component.ID]component.Component{component.NewID(f.Type()): ext})
}

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func event(id string, typ release.EventType, version string, at time.Duration, ctx release.Context) release.Event {
	return release.Event{
		ID: id, Type: typ, Time: t0.Add(at), ReceivedAt: t0.Add(at), Source: "native", Release: ctx,
		Attributes: map[string]string{
			release.AttrServiceName: "checkout", release.AttrServiceNamespace: "shop", release.AttrServiceVersion: version,
			release.AttrDeploymentEnvironment: "production", release.AttrVCSRevision: "rev-" + version,
		},
	}
}

func record(t testing.TB, st releasestoreextension.Store, events ...release.Event) {
	t.Helper()
	_, err := st.Record(context.Background(), events)
	require.NoError(t, err)
}

func resourceAttrs(version string, extra ...string) map[string]any {
	m := map[string]any{"service.name": "checkout", "service.namespace": "shop", "deployment.environment.name": "production"}
	if version != "" {
		m["service.version"] = version
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func traces(resources ...map[string]any) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, r := range resources {
		rs := td.ResourceSpans().AppendEmpty()
		require.NoError(nil, rs.Resource().Attributes().FromRaw(r))
		rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("GET /cart")
	}
	return td
}

func startTraces(t *testing.T, cfg *Config, h component.Host) (*consumertest.TracesSink, func(ptrace.Traces)) {
	t.Helper()
	sink := &consumertest.TracesSink{}
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), h))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return sink, func(td ptrace.Traces) { require.NoError(t, p.ConsumeTraces(context.Background(), td)) }
}

func TestRolesDuringACanary(t *testing.T) {
	st, h := startStore(t)
	pct := 10.0
	record(t, st, event("d1", release.EventSucceeded, "v1.4.1", 0, release.Context{}))
	record(t, st, event("d2", release.EventStarted, "v1.4.2", time.Hour, release.Context{Strategy: release.StrategyCanary, RolloutPercentage: &pct, Owner: "team-payments"}))

	sink, consume := startTraces(t, createDefaultConfig().(*Config), h)
	consume(traces(
		resourceAttrs("v1.4.2"), // candidate
		resourceAttrs("1.4.1"),  // control (normalised version)
		resourceAttrs(""),       // two live versions: unknown
		resourceAttrs("v9"),     // not live: unknown
		map[string]any{"service.name": "other", "deployment.environment.name": "production"}, // no release state
	))
	got := sink.AllTraces()[0].ResourceSpans()
	assert.Equal(t, resourceAttrs("v1.4.2",
		"deployment.id", "d2", "release.role", "candidate", "vcs.ref.head.revision", "rev-v1.4.2",
		"release.previous_version", "v1.4.1", "release.strategy", "canary", "release.owner", "team-payments",
	), withoutPct(t, got.At(0).Resource().Attributes(), 10))
	assert.Equal(t, resourceAttrs("1.4.1",
		"deployment.id", "d1", "release.role", "control", "vcs.ref.head.revision", "rev-v1.4.1",
	), withoutPct(t, got.At(1).Resource().Attributes(), 100))
	assert.Equal(t, resourceAttrs("", "release.role", "unknown"), got.At(2).Resource().Attributes().AsRaw())
	assert.Equal(t, resourceAttrs("v9", "release.role", "unknown"), got.At(3).Resource().Attributes().AsRaw())
	assert.Equal(t, map[string]any{"service.name": "other", "deployment.environment.name": "production"}, got.At(4).Resource().Attributes().AsRaw())

	// Once the canary succeeds, v1.4.2 is stable and v1.4.1 no longer live;
	// a resource without a version is taken to run the one live version.
	record(t, st, withDeploymentID(event("d2-done", release.EventSucceeded, "v1.4.2", 2*time.Hour, release.Context{}), "d2"))
	consume(traces(resourceAttrs("v1.4.2"), resourceAttrs(""), resourceAttrs("v1.4.1")))
	got = sink.AllTraces()[1].ResourceSpans()
	assert.Equal(t, "stable", role(got.At(0)))
	assert.Equal(t, "stable", role(got.At(1)))
	v, _ := got.At(1).Resource().Attributes().Get("service.version")
	assert.Equal(t, "v1.4.2", v.Str(), "the inferred version is stamped")
	assert.Equal(t, "unknown", role(got.At(2)))
}

func withDeploymentID(e release.Event, id string) release.Event {
	e.Attributes[release.AttrDeploymentID] = id
	return e
}

func role(rs ptrace.ResourceSpans) string {
	v, _ := rs.Resource().Attributes().Get("release.role")
	return v.Str()
}

// withoutPct checks and removes the rollout percentage, a double.
func withoutPct(t *testing.T, attrs pcommon.Map, want float64) map[string]any {
	t.Helper()
	m := attrs.AsRaw()
	assert.Equal(t, want, m["release.rollout.percentage"])
	delete(m, "release.rollout.percentage")
	return m
}

func TestNeverOverwritesUnlessConfigured(t *testing.T) {
	st, h := startStore(t)
	record(t, st, event("d1", release.EventStarted, "v2", 0, release.Context{}))
	for _, overwrite := range []bool{false, true} {
		cfg := createDefaultConfig().(*Config)
		cfg.Overwrite = overwrite
		sink, consume := startTraces(t, cfg, h)
		consume(traces(resourceAttrs("v2", "deployment.id", "from-app", "release.role", "canary-pod")))
		attrs := sink.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes().AsRaw()
		if overwrite {
			assert.Equal(t, "d1", attrs["deployment.id"])
			assert.Equal(t, "candidate", attrs["release.role"])
		} else {
			assert.Equal(t, "from-app", attrs["deployment.id"])
			assert.Equal(t, "canary-pod", attrs["release.role"])
		}
	}
}

func TestScopeAndDeprecatedEnvironmentAndDefaultEnvironment(t *testing.T) {
	st, h := startStore(t)
	eu := event("eu", release.EventStarted, "v2", 0, release.Context{Scope: map[string]string{"k8s.cluster.name": "eu-1"}})
	all := event("all", release.EventSucceeded, "v1", 0, release.Context{})
	record(t, st, all, eu)
	cfg := createDefaultConfig().(*Config)
	cfg.Environment = "production"
	sink, consume := startTraces(t, cfg, h)
	consume(traces(
		resourceAttrs("v2", "k8s.cluster.name", "eu-1"),
		resourceAttrs("v1", "k8s.cluster.name", "us-1"),
		map[string]any{"service.name": "checkout", "service.namespace": "shop", "deployment.environment": "production", "service.version": "v1"},
		map[string]any{"service.name": "checkout", "service.namespace": "shop", "service.version": "v1"},
	))
	got := sink.AllTraces()[0].ResourceSpans()
	ids := []string{}
	for i := 0; i < got.Len(); i++ {
		v, _ := got.At(i).Resource().Attributes().Get("deployment.id")
		ids = append(ids, v.Str()+"/"+role(got.At(i)))
	}
	assert.Equal(t, []string{"eu/candidate", "all/stable", "all/stable", "all/stable"}, ids)
}

func TestMetricsGetOnlyTheAllowList(t *testing.T) {
	st, h := startStore(t)
	pct := 25.0
	record(t, st, event("d1", release.EventStarted, "v2", 0, release.Context{Strategy: release.StrategyCanary, RolloutPercentage: &pct}))
	sink := &consumertest.MetricsSink{}
	p, err := NewFactory().CreateMetrics(context.Background(), processortest.NewNopSettings(Type), createDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), h))
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()
	md := pmetric.NewMetrics()
	require.NoError(t, md.ResourceMetrics().AppendEmpty().Resource().Attributes().FromRaw(resourceAttrs("v2")))
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	assert.Equal(t, resourceAttrs("v2", "deployment.id", "d1", "release.role", "candidate"),
		sink.AllMetrics()[0].ResourceMetrics().At(0).Resource().Attributes().AsRaw())

	logSink := &consumertest.LogsSink{}
	lp, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(Type), createDefaultConfig(), logSink)
	require.NoError(t, err)
	require.NoError(t, lp.Start(context.Background(), h))
	defer func() { require.NoError(t, lp.Shutdown(context.Background())) }()
	ld := plog.NewLogs()
	require.NoError(t, ld.ResourceLogs().AppendEmpty().Resource().Attributes().FromRaw(resourceAttrs("v2")))
	require.NoError(t, lp.ConsumeLogs(context.Background(), ld))
	logAttrs := logSink.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes().AsRaw()
	assert.Equal(t, 25.0, logAttrs["release.rollout.percentage"], "logs get the full context")
	assert.Equal(t, "canary", logAttrs["release.strategy"])
}

func TestStartFailsWithoutStore(t *testing.T) {
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(Type), createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.ErrorContains(t, p.Start(context.Background(), componenttest.NewNopHost()), "no releasestore extension is configured")
}
