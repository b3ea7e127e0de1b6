package releasecorrelationprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

func gauge(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err)
	switch d := m.Data.(type) {
	case metricdata.Gauge[int64]:
		return d.DataPoints[0].Value
	case metricdata.Sum[int64]:
		return d.DataPoints[0].Value
	}
	t.Fatalf("%s is not an int64 gauge or sum", name)
	return 0
}

// TestTrackedSeriesAreCappedAndEvictionsCounted: with max_arms 3, the
// fourth version seen evicts the least recently seen series that is not
// under evaluation, and the internal metrics say so.
func TestTrackedSeriesAreCappedAndEvictionsCounted(t *testing.T) {
	st, h := startStore(t)
	for i := 0; i < 5; i++ {
		e := event(fmt.Sprintf("s%d", i), release.EventSucceeded, "v1", 0, release.Context{})
		e.Attributes[release.AttrServiceName] = fmt.Sprintf("svc-%d", i)
		record(t, st, e)
	}
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := processortest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	cfg := createDefaultConfig().(*Config)
	cfg.Detection.MaxArms = 3
	p, err := NewFactory().CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), h))
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

	for i := 0; i < 5; i++ {
		require.NoError(t, p.ConsumeTraces(context.Background(), traces(map[string]any{
			"service.name": fmt.Sprintf("svc-%d", i), "service.namespace": "shop", "deployment.environment.name": "production", "service.version": "v1",
		})))
	}
	assert.Equal(t, int64(3), gauge(t, tel, "otelcol.releasecorrelation.arms"))
	assert.Equal(t, int64(2), gauge(t, tel, "otelcol.releasecorrelation.arms.evicted"))
	assert.Equal(t, int64(0), gauge(t, tel, "otelcol.releasecorrelation.evaluations"))
}

// Releases the store evicts (its max_keys cap) stop being evaluated as
// they are evicted, so evaluations stay within the store's bounds.
func TestEvaluationsOfEvictedReleasesEnd(t *testing.T) {
	ctx := context.Background()
	f := releasestoreextension.NewFactory()
	scfg := f.CreateDefaultConfig().(*releasestoreextension.Config)
	scfg.NetAddr.Endpoint = freeAddr(t)
	scfg.MaxKeys = 2
	ext, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), scfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
	st := ext.(releasestoreextension.Store)
	h := testhost.New(map[component.ID]component.Component{component.NewID(f.Type()): ext})

	cfg := createDefaultConfig().(*Config)
	_, _ = startTraces(t, cfg, h)
	shared.Lock()
	d := shared.m[cfg]
	shared.Unlock()
	require.NotNil(t, d)

	now := time.Now().UTC()
	for i, svc := range []string{"a", "b", "c"} {
		e := event(fmt.Sprintf("d-%s", svc), release.EventStarted, "v2", 0, release.Context{PreviousVersion: "v1"})
		e.Attributes[release.AttrServiceName] = svc
		e.Time, e.ReceivedAt = now.Add(time.Duration(i)*time.Second), now.Add(time.Duration(i)*time.Second)
		record(t, st, e)
	}
	// The third rollout evicted the first key: its evaluation ended with
	// it, at once, not at the next periodic check.
	got := d.det.Evaluating()
	require.Len(t, got, 2, "the store holds two keys: %v", got)
	for _, id := range got {
		_, ok := st.Release(id)
		require.True(t, ok, "%s is still in the store", id)
	}
}
