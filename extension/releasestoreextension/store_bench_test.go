package releasestoreextension

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const benchKeys = 10000

// lookupStore returns an in-memory store holding benchKeys services, each
// with a stable release and a canary in progress, and their keys.
func lookupStore(tb testing.TB) (*releaseStore, []release.ServiceKey) {
	tb.Helper()
	s := env{cfg: func(c *Config) { c.MaxKeys = benchKeys }}.start(tb)
	keys := make([]release.ServiceKey, benchKeys)
	const batch = 1000
	for i := 0; i < benchKeys; i += batch {
		events := make([]release.Event, 0, 2*batch)
		for j := i; j < i+batch; j++ {
			name := fmt.Sprintf("svc-%05d", j)
			keys[j] = serviceKey(name)
			events = append(events,
				event(fmt.Sprintf("stable-%d", j), release.EventSucceeded, "v1", 0, withService(name)),
				event(fmt.Sprintf("canary-%d", j), release.EventStarted, "v2", time.Hour, withService(name), withPercent(5)))
		}
		record(tb, s, events...)
	}
	require.Equal(tb, benchKeys, s.state.KeyCount())
	return s, keys
}

var sinkView *ServiceView

// BenchmarkServiceLookup is the hot-path lookup of the correlation
// processor: a service view by key, on a store holding 10,000 keys.
func BenchmarkServiceLookup(b *testing.B) {
	s, keys := lookupStore(b)

	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		var v *ServiceView
		i := 0
		for b.Loop() {
			v = s.Service(keys[i])
			i++
			if i == len(keys) {
				i = 0
			}
		}
		sinkView = v
		if v == nil {
			b.Fatal("miss")
		}
	})

	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		missing := release.ServiceKey{Namespace: "shop", Name: "svc-unknown", Environment: "production"}
		var v *ServiceView
		for b.Loop() {
			v = s.Service(missing)
		}
		sinkView = v
		if v != nil {
			b.Fatal("hit")
		}
	})

	// Readers on every P while a writer records rollout progress
	// continuously, each write publishing a new view of one service.
	// allocs/op counts the writer's allocations too (spread over the
	// lookups); TestServiceLookupAllocatesNothing checks lookups alone.
	b.Run("parallel_with_writer", func(b *testing.B) {
		var (
			stop   atomic.Bool
			writes atomic.Int64
			wg     sync.WaitGroup
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				i := n % len(keys)
				pct := float64(6 + n/len(keys)%90)
				e := event(fmt.Sprintf("canary-%d", i), release.EventProgressed, "v2", time.Hour+time.Duration(n)*time.Millisecond,
					withService(keys[i].Name), withPercent(pct))
				if _, err := s.Record(context.Background(), []release.Event{e}); err != nil {
					b.Error(err)
					return
				}
				writes.Add(1)
			}
		}()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var v *ServiceView
			i, n := 0, 0
			for pb.Next() {
				v = s.Service(keys[i])
				i += 7
				if i >= len(keys) {
					i -= len(keys)
				}
				n++
			}
			if n > 0 && v == nil {
				b.Error("miss")
			}
		})
		b.StopTimer()
		stop.Store(true)
		wg.Wait()
		b.ReportMetric(float64(writes.Load())/b.Elapsed().Seconds(), "writes/s")
	})
}

func TestServiceLookupAllocatesNothing(t *testing.T) {
	s, keys := lookupStore(t)
	missing := release.ServiceKey{Name: "nope", Environment: "production"}
	allocs := testing.AllocsPerRun(1000, func() {
		sinkView = s.Service(keys[1234])
		sinkView = s.Service(missing)
	})
	assert.Zero(t, allocs)
	require.NotNil(t, s.Service(keys[1234]))
	assert.Equal(t, "canary-1234", s.Service(keys[1234]).Keys[0].Active.ID)
}

// benchEvent is a realistic native deploy event: the example document of
// PRODUCT.md, for one of 1,000 services. Every event has its own id; the
// services go through started, progressed and succeeded in turn.
func benchEvent(n int, received time.Time) release.Event {
	svc := n % 1000
	round := n / 1000
	deploy := round / 3
	version := fmt.Sprintf("v1.%d.%d", deploy, svc)
	e := release.Event{
		ID:         fmt.Sprintf("evt-%d", n),
		Time:       received.Add(-time.Second),
		ReceivedAt: received,
		Source:     "native",
		Attributes: map[string]string{
			release.AttrServiceName:           fmt.Sprintf("svc-%04d", svc),
			release.AttrServiceNamespace:      "shop",
			release.AttrServiceVersion:        version,
			release.AttrDeploymentEnvironment: "production",
			release.AttrDeploymentID:          fmt.Sprintf("deploy-%d-%d", svc, deploy),
			release.AttrVCSRevision:           fmt.Sprintf("%07x", n*2654435761%(1<<28)),
			release.AttrVCSRepositoryURL:      "https://github.com/acme/checkout",
			release.AttrCICDPipelineRunID:     fmt.Sprint(8812 + n),
		},
		Release: release.Context{
			Strategy:     release.StrategyCanary,
			FeatureFlags: []release.FeatureFlag{{Key: "new-pricing", Variant: "on"}},
			Intent:       "move cart pricing to the new engine",
			Risk:         "high",
			Owner:        "team-payments",
			Scope:        map[string]string{"k8s.cluster.name": "eu-1"},
		},
	}
	switch round % 3 {
	case 0:
		e.Type = release.EventStarted
		e.Release.RolloutPercentage = ptrTo(10.0)
		if deploy > 0 {
			e.Release.PreviousVersion = fmt.Sprintf("v1.%d.%d", deploy-1, svc)
		}
	case 1:
		e.Type = release.EventProgressed
		e.Release.RolloutPercentage = ptrTo(50.0)
	default:
		e.Type = release.EventSucceeded
	}
	return e
}

func ptrTo[T any](v T) *T { return &v }

// BenchmarkRecord measures deploy events per second through Store.Record,
// one event per call as the receiver does per request: with every event
// written to file_storage before Record returns (fsync off, the
// file_storage default: an acknowledged event survives kill -9; fsync on:
// it survives a power cut too), and in memory.
func BenchmarkRecord(b *testing.B) {
	for _, mode := range []string{"file_storage", "file_storage_fsync", "memory"} {
		b.Run(mode, func(b *testing.B) {
			var e env
			if mode != "memory" {
				st := newFileStorageWith(b, b.TempDir(), func(c *filestorage.Config) { c.FSync = mode == "file_storage_fsync" })
				e = withStorage(st)
			}
			s := e.start(b)
			received := t0
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				received = received.Add(time.Millisecond)
				ev := benchEvent(n, received)
				out, err := s.Record(context.Background(), []release.Event{ev})
				if err != nil {
					b.Fatal(err)
				}
				if out[0].Duplicate {
					b.Fatalf("event %d is a duplicate", n)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
