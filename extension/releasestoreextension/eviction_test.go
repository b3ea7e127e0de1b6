package releasestoreextension

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// TestEvictionThrashAtTheCap is issue 10's scenario through the store, one
// event per Record call as the receiver sends them: at max_keys, with every
// stored key rolling out, 100 `succeeded` and then 100 `started` events for
// 100 new services. Every event is acknowledged; afterwards every release
// they created is still there, every canary has its stable version as
// control, and the 100 evictions (old rollouts, least recently touched
// first) are counted.
func TestEvictionThrashAtTheCap(t *testing.T) {
	const maxKeys, burst = 1000, 100
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	s := env{tel: tel, cfg: func(c *Config) { c.MaxKeys = maxKeys }}.start(t)
	for i := range maxKeys {
		name := fmt.Sprintf("old-%d", i)
		record(t, s, event("old-stable-"+name, release.EventSucceeded, "v1", 0, withService(name)),
			event("old-canary-"+name, release.EventStarted, "v2", time.Minute, withService(name)))
	}
	newName := func(i int) string { return fmt.Sprintf("new-%d", i) }
	var acknowledged []string
	for i := range burst {
		out := record(t, s, event("stable-"+newName(i), release.EventSucceeded, "v1", time.Hour, withService(newName(i))))
		acknowledged = append(acknowledged, out[0].Release.ID)
	}
	for i := range burst {
		out := record(t, s, event("canary-"+newName(i), release.EventStarted, "v2", 2*time.Hour, withService(newName(i)), withPercent(10)))
		acknowledged = append(acknowledged, out[0].Release.ID)
	}

	for _, id := range acknowledged {
		_, ok := s.Release(id)
		assert.True(t, ok, "%s was acknowledged and is still stored", id)
	}
	for i := range burst {
		v := s.Service(serviceKey(newName(i)))
		require.NotNil(t, v, newName(i))
		require.NotNil(t, v.Keys[0].Control, "%s's canary has a control", newName(i))
		assert.Equal(t, "stable-"+newName(i), v.Keys[0].Control.ID)
		assert.Equal(t, "canary-"+newName(i), v.Keys[0].Active.ID)
	}
	for i := range maxKeys {
		gone := s.Service(serviceKey(fmt.Sprintf("old-%d", i))) == nil
		assert.Equal(t, i < burst, gone, "old-%d", i)
	}
	assert.Equal(t, int64(burst), metricValue(t, tel, "otelcol.releasestore.evictions", attribute.String("kind", "key")))
	assert.Equal(t, int64(2*burst), metricValue(t, tel, "otelcol.releasestore.evictions", attribute.String("kind", "release")))
	assert.Equal(t, int64(maxKeys), metricValue(t, tel, "otelcol.releasestore.keys"))
}

// Subscribers are told which releases max_keys evicted with the change
// that evicted them, in memory and in a fleet's shared store alike (the
// processor ends their evaluations on it).
func TestSubscribersAreToldOfEvictions(t *testing.T) {
	stores := map[string]func(t *testing.T) *releaseStore{
		"in memory": func(t *testing.T) *releaseStore {
			return env{cfg: func(c *Config) { c.MaxKeys = 1 }}.start(t)
		},
		"shared": func(t *testing.T) *releaseStore {
			dsn, schema := testPostgres(t)
			return replica(t, dsn, schema, "a", func(c *Config) { c.MaxKeys = 1 })
		},
	}
	for name, start := range stores {
		t.Run(name, func(t *testing.T) {
			s := start(t)
			var mu sync.Mutex
			var evicted []string
			s.Subscribe(Subscriber{OnRelease: func(ch ReleaseChange) {
				mu.Lock()
				defer mu.Unlock()
				evicted = append(evicted, ch.Evicted...)
			}})
			record(t, s, event("first", release.EventStarted, "v2", 0, withService("first")))
			record(t, s, event("second", release.EventStarted, "v2", time.Minute, withService("second")))
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, []string{"first"}, evicted)
		})
	}
}
