package releasestoreextension

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

// scaleEvent is a native deploy event of service svc: the PRODUCT.md
// example's context, one of the service's two releases (v1 stable, v2 a
// canary replacing it).
func scaleEvent(svc int, canary bool, at time.Time) release.Event {
	name := fmt.Sprintf("svc-%06d", svc)
	e := release.Event{
		ID: fmt.Sprintf("stable-%d", svc), Type: release.EventSucceeded, Time: at, ReceivedAt: at, Source: "native",
		Attributes: map[string]string{
			release.AttrServiceName:           name,
			release.AttrServiceNamespace:      "shop",
			release.AttrServiceVersion:        "v1.4.1",
			release.AttrDeploymentEnvironment: "production",
			release.AttrVCSRevision:           fmt.Sprintf("%07x", svc),
			release.AttrVCSRepositoryURL:      "https://github.com/acme/" + name,
		},
		Release: release.Context{Owner: "team-payments"},
	}
	if canary {
		e.ID = fmt.Sprintf("canary-%d", svc)
		e.Type = release.EventStarted
		e.Attributes[release.AttrServiceVersion] = "v1.4.2"
		e.Release.PreviousVersion = "v1.4.1"
		e.Release.Strategy = release.StrategyCanary
		e.Release.RolloutPercentage = ptrTo(10.0)
	}
	return e
}

// BenchmarkCardinality fills an in-memory store with services, each with a
// stable release and a canary replacing it (one event per Record call, as
// the receiver sends them), up to max_keys; then 1,000 more services arrive
// at the cap, each evicting an idle key. It reports the live heap per key
// and the ingest time per event while filling and at the cap: with every
// per-event operation O(1) or O(log n), both stay flat from 1k to 100k.
// Run with -benchtime=1x.
func BenchmarkCardinality(b *testing.B) {
	for _, services := range []int{1000, 10000, 50000, 100000} {
		b.Run(fmt.Sprintf("services=%d", services), func(b *testing.B) {
			for b.Loop() {
				before := testhost.LiveHeap()
				s := env{cfg: func(c *Config) { c.MaxKeys = services }}.start(b)
				at := t0
				ingest := func(from, to int) time.Duration {
					start := time.Now()
					for svc := from; svc < to; svc++ {
						at = at.Add(time.Millisecond)
						for _, canary := range []bool{false, true} {
							if _, err := s.Record(context.Background(), []release.Event{scaleEvent(svc, canary, at)}); err != nil {
								b.Fatal(err)
							}
						}
					}
					return time.Since(start)
				}
				fill := ingest(0, services)
				heap := testhost.LiveHeap()
				require.Equal(b, services, s.state.KeyCount())
				const extra = 1000
				atCap := ingest(services, services+extra)
				require.Equal(b, services, s.state.KeyCount())
				b.ReportMetric(float64(heap-before)/float64(services), "heap-B/key")
				b.ReportMetric(float64(fill.Nanoseconds())/float64(2*services), "ns/event")
				b.ReportMetric(float64(atCap.Nanoseconds())/float64(2*extra), "ns/event-at-cap")
				require.NoError(b, s.Shutdown(context.Background()))
			}
		})
	}
}

// BenchmarkRecordConcurrent is 16 clients calling Record at once, one event
// per call, with file_storage (fsync off, its default): what the receiver
// does under load. Either every event is a new service (at the default
// max_keys of 10,000, later ones evict), or 1,000 services rotate through
// started, progressed and succeeded.
func BenchmarkRecordConcurrent(b *testing.B) {
	const clients = 16
	for _, load := range []string{"new_services", "rotating_1000_services"} {
		b.Run(load, func(b *testing.B) {
			s := withStorage(newFileStorage(b, b.TempDir())).start(b)
			var (
				seq      atomic.Int64
				wg       sync.WaitGroup
				failOnce sync.Once
				failure  error
			)
			b.ReportAllocs()
			b.ResetTimer()
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						n := int(seq.Add(1)) - 1
						if n >= b.N {
							return
						}
						received := t0.Add(time.Duration(n) * time.Millisecond)
						var ev release.Event
						if load == "new_services" {
							ev = scaleEvent(n, true, received)
						} else {
							ev = benchEvent(n, received)
						}
						out, err := s.Record(context.Background(), []release.Event{ev})
						if err == nil && out[0].Duplicate {
							err = fmt.Errorf("event %d is a duplicate", n)
						}
						if err != nil {
							failOnce.Do(func() { failure = err })
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if failure != nil {
				b.Fatal(failure)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(s.committed)/float64(s.commits), "requests/commit")
		})
	}
}
