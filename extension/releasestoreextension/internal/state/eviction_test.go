package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func svcKey(name string) release.ServiceKey {
	return release.ServiceKey{Namespace: "shop", Name: name, Environment: "production"}
}

// TestBurstAtTheCapKeepsWhatItCreated is the eviction thrash of issue 10:
// at max_keys, 100 `succeeded` and then 100 `started` events for 100 new
// services. Each stable key just created must survive the inserts that
// follow, so that every canary has its control, and every release an event
// created (answered 202) is still there afterwards.
func TestBurstAtTheCapKeepsWhatItCreated(t *testing.T) {
	const maxKeys, burst = 1000, 100
	for name, fill := range map[string]func(i int) *release.Event{
		// The worst case for "prefer keys with no rollout in progress":
		// every old key is rolling out, so the only idle keys are new.
		"old keys rolling out": func(i int) *release.Event {
			return ev(fmt.Sprintf("old-%d", i), release.EventStarted, "v9", 0, withService(fmt.Sprintf("old-%d", i)))
		},
		// Old keys whose events carry later times than the burst's: the
		// order of eviction is the order the store saw, not event clocks.
		"old keys idle, later event times": func(i int) *release.Event {
			return ev(fmt.Sprintf("old-%d", i), release.EventSucceeded, "v9", 48*time.Hour, withService(fmt.Sprintf("old-%d", i)))
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := testLimits()
			l.MaxKeys = maxKeys
			l.MaxDedupeEntries = 10 * maxKeys
			s := New(l)
			for i := range maxKeys {
				apply(t, s, fill(i))
			}
			require.Equal(t, maxKeys, s.KeyCount())
			s.TakeEvictedServices()

			newName := func(i int) string { return fmt.Sprintf("new-%d", i) }
			for i := range burst {
				apply(t, s, ev("stable-"+newName(i), release.EventSucceeded, "v1", time.Hour, withService(newName(i))))
			}
			for i := range burst {
				apply(t, s, ev("canary-"+newName(i), release.EventStarted, "v2", 2*time.Hour, withService(newName(i)), withPercent(10)))
			}

			assert.Equal(t, maxKeys, s.KeyCount())
			assert.Equal(t, Evictions{Keys: burst, Releases: burst}, s.Evictions(), "one old key per new service")
			for i := range burst {
				v := s.ServiceView(svcKey(newName(i)))
				require.NotNil(t, v, newName(i))
				require.Len(t, v.Keys, 1)
				assert.Equal(t, "canary-"+newName(i), idOf(v.Keys[0].Active), newName(i))
				assert.Equal(t, "stable-"+newName(i), idOf(v.Keys[0].Control), "%s keeps its control", newName(i))
			}
			// The victims are the old keys touched first, in order.
			evicted := s.TakeEvictedServices()
			require.Len(t, evicted, burst)
			for i, sk := range evicted {
				assert.Equal(t, svcKey(fmt.Sprintf("old-%d", i)), sk)
			}
		})
	}
}

func TestEvictionOrder(t *testing.T) {
	l := testLimits()
	l.MaxKeys = 16 // two keys are recent
	s := New(l)
	name := func(i int) string { return fmt.Sprintf("svc-%02d", i) }
	for i := range 16 {
		typ := release.EventSucceeded
		if i%2 == 0 {
			typ = release.EventStarted
		}
		apply(t, s, ev(name(i), typ, "v1", time.Duration(i)*time.Minute, withService(name(i))))
	}
	// An update makes svc-01 the most recently touched idle key.
	apply(t, s, ev(name(1), release.EventProgressed, "v1", time.Hour, withService(name(1))))

	next := 16
	insert := func() release.ServiceKey {
		t.Helper()
		n := fmt.Sprintf("new-%02d", next)
		apply(t, s, ev(n, release.EventStarted, "v1", 2*time.Hour, withService(n)))
		next++
		evicted := s.TakeEvictedServices()
		require.Len(t, evicted, 1)
		return evicted[0]
	}
	// Idle keys go first, least recently touched first: svc-01 last.
	for _, want := range []int{3, 5, 7, 9, 11, 13, 15, 1} {
		assert.Equal(t, svcKey(name(want)), insert())
	}
	// Then rollouts in progress, oldest first, but not the new ones.
	for _, want := range []int{0, 2, 4, 6, 8, 10, 12, 14} {
		assert.Equal(t, svcKey(name(want)), insert())
	}
	assert.Equal(t, svcKey("new-16"), insert())
}

func TestEvictionWhenEveryKeyIsRecent(t *testing.T) {
	l := testLimits()
	l.MaxKeys = 8 // one key generation is recent
	s := New(l)
	name := func(i int) string { return fmt.Sprintf("svc-%d", i) }
	for i := range 8 {
		apply(t, s, ev(name(i), release.EventStarted, "v1", 0, withService(name(i))))
	}
	// Every key is touched after the last key was created: all are recent.
	for i := range 8 {
		apply(t, s, ev(name(i), release.EventProgressed, "v1", time.Minute, withService(name(i))))
	}
	apply(t, s, ev("stable", release.EventSucceeded, "v1", time.Hour, withService(name(3))))
	apply(t, s, ev("new", release.EventStarted, "v1", 2*time.Hour, withService("new")))
	assert.Equal(t, []release.ServiceKey{svcKey(name(3))}, s.TakeEvictedServices(), "idle first")
	apply(t, s, ev("new-2", release.EventStarted, "v1", 2*time.Hour, withService("new-2")))
	assert.Equal(t, []release.ServiceKey{svcKey(name(0))}, s.TakeEvictedServices(), "then the least recently touched")
}

// TestSnapshotKeepsEvictionOrder: after a restart the store evicts exactly
// what it would have evicted without one, so that replay stays
// deterministic.
func TestSnapshotKeepsEvictionOrder(t *testing.T) {
	l := testLimits()
	l.MaxKeys = 24
	s := New(l)
	for i := range 30 {
		n := fmt.Sprintf("svc-%d", i%20)
		typ := []release.EventType{release.EventStarted, release.EventSucceeded, release.EventFailed}[i%3]
		apply(t, s, ev(fmt.Sprintf("d-%d", i), typ, fmt.Sprintf("v%d", i), time.Duration(30-i)*time.Minute, withService(n)))
	}
	data, err := s.MarshalJSON()
	require.NoError(t, err)
	loaded := New(l)
	require.NoError(t, loaded.Load(data))
	s.TakeEvictedServices()
	loaded.TakeEvictedServices()
	for i := range 30 {
		e := ev(fmt.Sprintf("n-%d", i), release.EventStarted, "v1", time.Duration(i)*time.Hour, withService(fmt.Sprintf("new-%d", i)))
		apply(t, s, e)
		apply(t, loaded, e)
		require.Equal(t, s.TakeEvictedServices(), loaded.TakeEvictedServices(), "insert %d", i)
	}
	assert.ElementsMatch(t, s.Services(), loaded.Services())

	// A lower max_keys applies when loading, least useful keys first.
	l.MaxKeys = 10
	smaller := New(l)
	data, err = s.MarshalJSON()
	require.NoError(t, err)
	require.NoError(t, smaller.Load(data))
	assert.Equal(t, 10, smaller.KeyCount())
	for i := 20; i < 30; i++ {
		assert.NotNil(t, smaller.ServiceView(svcKey(fmt.Sprintf("new-%d", i))), "new-%d", i)
	}
}

// TestLoadLegacySnapshotQueuesByUpdateTime: a snapshot written before the
// eviction queues has no generations; its keys are queued by update time.
func TestLoadLegacySnapshotQueuesByUpdateTime(t *testing.T) {
	l := testLimits()
	l.MaxKeys = 3
	data := []byte(`{"version":1,"keys":[
	  {"key":"b","updated_at":"2026-11-24T12:00:00Z","releases":[{"id":"b","status":"succeeded","attributes":{"deployment.id":"b","service.name":"b","service.namespace":"shop","service.version":"v1","deployment.environment.name":"production"}}]},
	  {"key":"a","updated_at":"2026-11-24T11:00:00Z","releases":[{"id":"a","status":"succeeded","attributes":{"deployment.id":"a","service.name":"a","service.namespace":"shop","service.version":"v1","deployment.environment.name":"production"}}]},
	  {"key":"c","updated_at":"2026-11-24T13:00:00Z","releases":[{"id":"c","status":"succeeded","attributes":{"deployment.id":"c","service.name":"c","service.namespace":"shop","service.version":"v1","deployment.environment.name":"production"}}]}
	]}`)
	s := New(l)
	require.NoError(t, s.Load(data))
	require.Equal(t, 3, s.KeyCount())
	apply(t, s, ev("d", release.EventSucceeded, "v1", 0, withService("d")))
	assert.Equal(t, []release.ServiceKey{svcKey("a")}, s.TakeEvictedServices())
}

func TestDecisionQueue(t *testing.T) {
	l := testLimits()
	l.MaxDecisions = 3
	s := New(l)
	id := func(i int) string { return fmt.Sprintf("dec-%d", i) }
	for i := range 20 {
		s.ApplyDecision(decision(id(i), "d1", time.Duration(i)*time.Minute))
		s.ApplyOutcome(&release.ActionOutcome{DecisionID: id(i), Target: "webhook", Status: release.OutcomePending})
		for j := 0; j <= i; j++ {
			d, ok := s.Decision(id(j))
			kept := j > i-3
			assert.Equal(t, kept, ok, "after %d: %s", i, id(j))
			assert.Equal(t, kept, s.HasDecision(id(j)))
			assert.Equal(t, kept, s.Pending(id(j)), "outcomes go with their decision")
			if ok {
				assert.Equal(t, id(j), d.DecisionID)
			}
		}
	}
	assert.Equal(t, int64(17), s.Evictions().Decisions)
	assert.Equal(t, []string{"dec-19", "dec-18", "dec-17"}, decisionIDs(s.Decisions(nil)))
	data, err := s.MarshalJSON()
	require.NoError(t, err)
	loaded := New(l)
	require.NoError(t, loaded.Load(data))
	assert.Equal(t, s.Decisions(nil), loaded.Decisions(nil))
	loaded.ApplyDecision(decision("dec-20", "d1", time.Hour))
	d, ok := loaded.Decision("dec-18")
	require.True(t, ok)
	assert.Equal(t, "dec-18", d.DecisionID)
	assert.False(t, loaded.HasDecision("dec-17"))
}

func decisionIDs(ds []*release.Decision) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.DecisionID
	}
	return out
}

// The event that evicts a key says which releases went with it, so that
// what follows releases (the detector's evaluations) ends with them.
func TestChangeNamesTheReleasesEvicted(t *testing.T) {
	l := testLimits()
	l.MaxKeys = 2
	s := New(l)
	for _, name := range []string{"a", "b"} {
		ch := s.ApplyEvent(ev("v1-"+name, release.EventSucceeded, "v1", 0, withService(name)))
		require.Empty(t, ch.Evicted)
		ch = s.ApplyEvent(ev("v2-"+name, release.EventStarted, "v2", time.Minute, withService(name)))
		require.Empty(t, ch.Evicted)
	}
	ch := s.ApplyEvent(ev("v1-c", release.EventSucceeded, "v1", 2*time.Minute, withService("c")))
	assert.ElementsMatch(t, []string{"v1-a", "v2-a"}, ch.Evicted, "a, the least recently touched key, made room for c")
	ch = s.ApplyEvent(ev("v2-c", release.EventStarted, "v2", 3*time.Minute, withService("c")))
	assert.Empty(t, ch.Evicted)
}

// Keys a snapshot loses to a lowered max_keys at load are not reported as
// evicted by the first event after it.
func TestLoadAtALowerCapReportsNoEviction(t *testing.T) {
	s := New(testLimits())
	for _, name := range []string{"a", "b", "c"} {
		apply(t, s, ev("v1-"+name, release.EventSucceeded, "v1", 0, withService(name)))
	}
	data, err := s.MarshalJSON()
	require.NoError(t, err)
	l := testLimits()
	l.MaxKeys = 1
	loaded := New(l)
	require.NoError(t, loaded.Load(data))
	require.Equal(t, 1, loaded.KeyCount())
	require.NotNil(t, loaded.ServiceView(svcKey("c")), "the most recently touched key is kept")
	ch := loaded.ApplyEvent(ev("v2-c", release.EventStarted, "v2", time.Minute, withService("c")))
	assert.Empty(t, ch.Evicted)
}
