package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// benchState holds 1,000 services, each with a stable release and a canary.
func benchState(b *testing.B) (*State, []release.ServiceKey) {
	s := New(Limits{
		MaxKeys: 10000, MaxHistory: 20, MaxDecisions: 1000, MaxDedupeEntries: 100000,
		DedupeWindow: 24 * time.Hour, MaxAnnotations: 100, MaxEventRefs: 100,
	})
	keys := make([]release.ServiceKey, 1000)
	for i := range keys {
		name := fmt.Sprintf("svc-%04d", i)
		keys[i] = release.ServiceKey{Namespace: "shop", Name: name, Environment: "production"}
		s.ApplyEvent(ev(fmt.Sprintf("stable-%d", i), release.EventSucceeded, "v1", 0, withService(name)))
		s.ApplyEvent(ev(fmt.Sprintf("canary-%d", i), release.EventStarted, "v2", time.Hour, withService(name), withPercent(5)))
	}
	return s, keys
}

// BenchmarkApplyEvent is the state-machine cost of one rollout update,
// without persistence: what the store's writer does under its lock.
func BenchmarkApplyEvent(b *testing.B) {
	s, keys := benchState(b)
	events := make([]*release.Event, 0, 10000)
	for n := range cap(events) {
		i := n % len(keys)
		events = append(events, ev(fmt.Sprintf("canary-%d", i), release.EventProgressed, "v2", time.Hour+time.Duration(n)*time.Millisecond,
			withService(keys[i].Name), withPercent(float64(6+n/len(keys)))))
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		e := events[n%len(events)]
		e.ReceivedAt = e.ReceivedAt.Add(48 * time.Hour) // never a duplicate
		if s.Check(e) != nil || s.Duplicate(e) {
			b.Fatal("event refused")
		}
		s.ApplyEvent(e)
		n++
	}
}

// BenchmarkServiceViewBuild is the cost of publishing one service's view
// after a change.
func BenchmarkServiceViewBuild(b *testing.B) {
	s, keys := benchState(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if s.ServiceView(keys[i%len(keys)]) == nil {
			b.Fatal("no view")
		}
		i++
	}
}

// BenchmarkSnapshotEncode is the cost of encoding a snapshot, which
// compaction pays once per log of about twice the state's size, reported
// per release held: 1,000 services with a stable release and a canary
// each, and 1,000 services each rolled out 60 times (so holding a history
// of 20 releases, and a full table of 100,000 deliveries remembered), what
// the receiver benchmark's rotating load builds.
func BenchmarkSnapshotEncode(b *testing.B) {
	for _, tc := range []struct {
		name  string
		state func(*testing.B) *State
	}{{"canary_per_service", func(b *testing.B) *State { s, _ := benchState(b); return s }}, {"rotating_history", rotatingState}} {
		b.Run(tc.name, func(b *testing.B) {
			s := tc.state(b)
			b.ReportAllocs()
			size := 0
			for b.Loop() {
				data, err := s.Image().MarshalJSON()
				if err != nil || len(data) == 0 {
					b.Fatal(err)
				}
				size = len(data)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(s.ReleaseCount()), "ns/release")
			b.ReportMetric(float64(size)/(1<<20), "MiB")
		})
	}
}

// rotatingState holds 1,000 services each rolled out 60 times: 20 releases
// a key (max_history) and 60,000 deliveries remembered.
func rotatingState(b *testing.B) *State {
	s := New(Limits{
		MaxKeys: 10000, MaxHistory: 20, MaxDecisions: 1000, MaxDedupeEntries: 100000,
		DedupeWindow: 24 * time.Hour, MaxAnnotations: 100, MaxEventRefs: 100,
	})
	for n := range 60000 {
		name := fmt.Sprintf("svc-%04d", n%1000)
		s.ApplyEvent(ev(fmt.Sprintf("deploy-%d", n), release.EventStarted, fmt.Sprintf("v%d", n), time.Duration(n)*time.Millisecond,
			withService(name), withPercent(10)))
	}
	if s.ReleaseCount() != 20000 {
		b.Fatalf("%d releases held, want 20,000", s.ReleaseCount())
	}
	return s
}
