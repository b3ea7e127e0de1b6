package state

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// stable deploys v1 fully: started then succeeded, one minute apart.
func stable(t *testing.T, s *State) {
	t.Helper()
	apply(t, s, ev("d1", release.EventStarted, "v1", 0), ev("d1", release.EventSucceeded, "v1", time.Minute))
}

func TestCanaryLifecycle(t *testing.T) {
	s := New(testLimits())
	stable(t, s)
	v1 := mustRelease(t, s, "d1")
	assert.Equal(t, release.StatusSucceeded, v1.Status)
	assert.Equal(t, at(time.Minute), v1.CompletedAt)
	assert.Nil(t, v1.EndedAt)
	assert.Equal(t, pct(100), v1.Release.RolloutPercentage)
	assert.Empty(t, v1.Release.PreviousVersion, "the first release has no previous version")
	kv := unscoped(t, s)
	assert.Equal(t, "d1", idOf(kv.Active))
	assert.Nil(t, kv.Previous)
	assert.Nil(t, kv.Control)

	// v2 starts as a 10% canary next to v1.
	ch := apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour, withStrategy(release.StrategyCanary), withPercent(10)))
	require.NotNil(t, ch.Release)
	assert.Equal(t, "d2", ch.Release.ID)
	assert.Empty(t, ch.Touched, "starting a canary ends nothing")
	assert.Equal(t, checkout, ch.Service)
	v2 := mustRelease(t, s, "d2")
	assert.Same(t, ch.Release, v2)
	assert.Equal(t, release.StatusInProgress, v2.Status)
	assert.Equal(t, "v1", v2.Release.PreviousVersion, "previous_version is filled from the live release")
	assert.Equal(t, release.StrategyCanary, v2.Release.Strategy)
	assert.Equal(t, pct(10), v2.Release.RolloutPercentage)
	assert.Equal(t, t0.Add(time.Hour), v2.StartedAt)
	assert.Equal(t, "d2", v2.Attributes[release.AttrDeploymentID], "deployment.id is stamped on the release")
	assert.Nil(t, v2.CompletedAt)
	assert.Nil(t, v2.EndedAt)
	kv = unscoped(t, s)
	assert.Equal(t, "d2", idOf(kv.Active))
	assert.Equal(t, "d1", idOf(kv.Control))
	assert.Equal(t, "d1", idOf(kv.Previous))
	assert.Same(t, v1, mustRelease(t, s, "d1"), "v1 is untouched by the canary start")

	// The canary progresses to 50%.
	ch = apply(t, s, ev("d2", release.EventProgressed, "v2", time.Hour+10*time.Minute, withPercent(50)))
	assert.Empty(t, ch.Touched)
	v2b := mustRelease(t, s, "d2")
	assert.Equal(t, release.StatusInProgress, v2b.Status)
	assert.Equal(t, pct(50), v2b.Release.RolloutPercentage)
	assert.Equal(t, t0.Add(time.Hour+10*time.Minute), v2b.UpdatedAt)
	assert.Equal(t, t0.Add(time.Hour), v2b.StartedAt)
	require.Len(t, v2b.Events, 2)
	assert.Equal(t, release.EventProgressed, v2b.Events[1].Type)
	assert.Equal(t, pct(50), v2b.Events[1].RolloutPercentage)
	// The release handed out before is a value: it did not change.
	assert.Equal(t, pct(10), v2.Release.RolloutPercentage)
	assert.Len(t, v2.Events, 1)
	assert.Equal(t, "d1", idOf(unscoped(t, s).Control))

	// The canary succeeds: v1 is superseded.
	ch = apply(t, s, ev("d2", release.EventSucceeded, "v2", 2*time.Hour))
	require.Len(t, ch.Touched, 1)
	assert.Equal(t, "d1", ch.Touched[0].ID)
	assert.Equal(t, release.StatusSuperseded, ch.Touched[0].Status)
	v1 = mustRelease(t, s, "d1")
	assert.Equal(t, release.StatusSuperseded, v1.Status)
	assert.Equal(t, at(2*time.Hour), v1.EndedAt)
	assert.Equal(t, t0.Add(2*time.Hour), v1.UpdatedAt)
	v2 = mustRelease(t, s, "d2")
	assert.Equal(t, release.StatusSucceeded, v2.Status)
	assert.Equal(t, at(2*time.Hour), v2.CompletedAt)
	assert.Nil(t, v2.EndedAt)
	assert.Equal(t, pct(100), v2.Release.RolloutPercentage)
	kv = unscoped(t, s)
	assert.Equal(t, "d2", idOf(kv.Active))
	assert.Nil(t, kv.Control, "no control once the rollout is complete")
	assert.Equal(t, "d1", idOf(kv.Previous))

	c := s.Counts()
	assert.Equal(t, Counts{Keys: 1, Releases: 2, Live: 1, InProgress: 0, Decisions: 0, DedupeEntries: 5}, c)
}

func TestExplicitPreviousVersionIsKept(t *testing.T) {
	s := New(testLimits())
	stable(t, s)
	apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour, func(e *release.Event) { e.Release.PreviousVersion = "v0.9" }))
	assert.Equal(t, "v0.9", mustRelease(t, s, "d2").Release.PreviousVersion)
	// Redeploying the same version does not name itself as previous.
	s = New(testLimits())
	stable(t, s)
	apply(t, s, ev("d2", release.EventStarted, "1", time.Hour))
	assert.Empty(t, mustRelease(t, s, "d2").Release.PreviousVersion, "v1 and 1 are the same version")
}

func TestFailedReleaseKeepsPreviousLive(t *testing.T) {
	s := New(testLimits())
	stable(t, s)
	apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour, withPercent(10)))
	ch := apply(t, s, ev("d2", release.EventFailed, "v2", 2*time.Hour))
	assert.Empty(t, ch.Touched)
	v2 := mustRelease(t, s, "d2")
	assert.Equal(t, release.StatusFailed, v2.Status)
	assert.Equal(t, at(2*time.Hour), v2.EndedAt)
	assert.Equal(t, at(2*time.Hour), v2.CompletedAt)
	assert.Equal(t, release.StatusSucceeded, mustRelease(t, s, "d1").Status)
	kv := unscoped(t, s)
	assert.Equal(t, "d1", idOf(kv.Active))
	assert.Nil(t, kv.Control)
	assert.Nil(t, kv.Previous)

	// A deploy that is only ever reported as failed is recorded, ended.
	ch = apply(t, s, ev("d3", release.EventFailed, "v3", 3*time.Hour))
	require.NotNil(t, ch.Release)
	assert.Empty(t, ch.Touched)
	v3 := mustRelease(t, s, "d3")
	assert.Equal(t, release.StatusFailed, v3.Status)
	assert.Equal(t, at(3*time.Hour), v3.EndedAt)
	assert.Equal(t, "v1", v3.Release.PreviousVersion)
	assert.Equal(t, "d1", idOf(unscoped(t, s).Active))
	assert.Equal(t, release.StatusSucceeded, mustRelease(t, s, "d1").Status)
}

func TestRolledBackByDeploymentID(t *testing.T) {
	s := New(testLimits())
	stable(t, s)
	apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour, withPercent(25)))
	ch := apply(t, s, ev("d2", release.EventRolledBack, "v2", 2*time.Hour))
	assert.Equal(t, "d2", ch.Release.ID)
	assert.Empty(t, ch.Touched)
	v2 := mustRelease(t, s, "d2")
	assert.Equal(t, release.StatusRolledBack, v2.Status)
	assert.Equal(t, at(2*time.Hour), v2.EndedAt)
	assert.Nil(t, v2.CompletedAt)
	kv := unscoped(t, s)
	assert.Equal(t, "d1", idOf(kv.Active))
	assert.Nil(t, kv.Control)
	assert.Equal(t, release.StatusSucceeded, mustRelease(t, s, "d1").Status)
}

func TestRolledBackWithoutKnownID(t *testing.T) {
	t.Run("native: the event names the version rolled back", func(t *testing.T) {
		s := New(testLimits())
		stable(t, s)
		apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour))
		ch := apply(t, s, ev("rb-1", release.EventRolledBack, "2", 2*time.Hour)) // "2" is v2
		require.NotNil(t, ch.Release)
		assert.Equal(t, "d2", ch.Release.ID)
		_, created := s.Release("rb-1")
		assert.False(t, created, "no release is created for a rollback that matched one")
		v2 := mustRelease(t, s, "d2")
		assert.Equal(t, release.StatusRolledBack, v2.Status)
		assert.Equal(t, at(2*time.Hour), v2.EndedAt)
		require.Len(t, v2.Events, 2)
		assert.Equal(t, "rb-1", v2.Events[1].ID)
		assert.Equal(t, release.StatusSucceeded, mustRelease(t, s, "d1").Status)
		assert.Equal(t, "d1", idOf(unscoped(t, s).Active))
	})
	t.Run("native: a fully rolled-out version", func(t *testing.T) {
		s := New(testLimits())
		stable(t, s)
		ch := apply(t, s, ev("rb-1", release.EventRolledBack, "v1", time.Hour))
		assert.Equal(t, "d1", ch.Release.ID)
		assert.Equal(t, release.StatusRolledBack, mustRelease(t, s, "d1").Status)
		assert.Nil(t, unscoped(t, s).Active)
	})
	t.Run("CDEvents: the event names the version rolled back to", func(t *testing.T) {
		s := New(testLimits())
		stable(t, s)
		apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour, withPercent(10)))
		ch := apply(t, s, ev("ce-rb", release.EventRolledBack, "v1", 2*time.Hour, withSource("cdevents")))
		require.NotNil(t, ch.Release)
		assert.Equal(t, "d2", ch.Release.ID, "the release in progress is the one rolled back")
		assert.Equal(t, release.StatusRolledBack, mustRelease(t, s, "d2").Status)
		v1 := mustRelease(t, s, "d1")
		assert.Equal(t, release.StatusSucceeded, v1.Status, "the target of the rollback stays live")
		assert.Nil(t, v1.EndedAt)
		kv := unscoped(t, s)
		assert.Equal(t, "d1", idOf(kv.Active))
		assert.Nil(t, kv.Control)
	})
	t.Run("CDEvents: first deploy rolled back", func(t *testing.T) {
		s := New(testLimits())
		apply(t, s, ev("d1", release.EventStarted, "v1", 0))
		ch := apply(t, s, ev("ce-rb", release.EventRolledBack, "v0", time.Hour, withSource("cdevents")))
		assert.Equal(t, "d1", ch.Release.ID)
		assert.Equal(t, release.StatusRolledBack, mustRelease(t, s, "d1").Status)
	})
	t.Run("nothing to roll back is recorded as an ended release", func(t *testing.T) {
		s := New(testLimits())
		ch := apply(t, s, ev("rb-9", release.EventRolledBack, "v9", 0))
		assert.Equal(t, "rb-9", ch.Release.ID)
		assert.Equal(t, release.StatusRolledBack, ch.Release.Status)
		assert.Equal(t, at(0), ch.Release.EndedAt)
		assert.Nil(t, unscoped(t, s).Active)
	})
}

func TestRemovedEndsEveryLiveRelease(t *testing.T) {
	s := New(testLimits())
	stable(t, s)
	apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour))
	apply(t, s, ev("d0", release.EventFailed, "v0", 90*time.Minute))
	rm := ev("rm-1", release.EventRemoved, "", 2*time.Hour, withSource("cdevents"))
	delete(rm.Attributes, release.AttrServiceVersion)
	ch := apply(t, s, rm)
	require.NotNil(t, ch.Release)
	all := append([]*release.Release{ch.Release}, ch.Touched...)
	assert.ElementsMatch(t, []string{"d1", "d2"}, ids(all))
	for _, id := range []string{"d1", "d2"} {
		r := mustRelease(t, s, id)
		assert.Equal(t, release.StatusRemoved, r.Status, id)
		assert.Equal(t, at(2*time.Hour), r.EndedAt, id)
	}
	assert.Equal(t, release.StatusFailed, mustRelease(t, s, "d0").Status, "an ended release keeps its status")
	_, ok := s.Release("rm-1")
	assert.False(t, ok)
	kv := unscoped(t, s)
	assert.Nil(t, kv.Active)
	assert.Nil(t, kv.Control)
	assert.Equal(t, 0, s.Counts().Live)

	// A removal of a service with nothing live changes nothing.
	ch = apply(t, s, ev("rm-2", release.EventRemoved, "v1", 3*time.Hour))
	assert.Nil(t, ch.Release)
	assert.Empty(t, ch.Touched)
}

func TestRemovedByDeploymentID(t *testing.T) {
	s := New(testLimits())
	stable(t, s)
	apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour))
	ch := apply(t, s, ev("d2", release.EventRemoved, "v2", 2*time.Hour))
	assert.Equal(t, "d2", ch.Release.ID)
	require.Len(t, ch.Touched, 1)
	assert.Equal(t, "d1", ch.Touched[0].ID)
	assert.Equal(t, release.StatusRemoved, mustRelease(t, s, "d1").Status)
	assert.Equal(t, release.StatusRemoved, mustRelease(t, s, "d2").Status)
}

func TestStackedDeploySupersedesTheRolloutInProgress(t *testing.T) {
	s := New(testLimits())
	stable(t, s)
	apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour, withPercent(10)))
	ch := apply(t, s, ev("d3", release.EventStarted, "v3", 2*time.Hour, withPercent(10)))
	assert.Equal(t, "d3", ch.Release.ID)
	require.Len(t, ch.Touched, 1)
	assert.Equal(t, "d2", ch.Touched[0].ID)
	v2 := mustRelease(t, s, "d2")
	assert.Equal(t, release.StatusSuperseded, v2.Status)
	assert.Equal(t, at(2*time.Hour), v2.EndedAt)
	assert.Equal(t, release.StatusSucceeded, mustRelease(t, s, "d1").Status, "the stable version is still live")
	assert.Equal(t, release.StatusInProgress, mustRelease(t, s, "d3").Status)
	assert.Equal(t, "d3", idOf(unscoped(t, s).Active))
	// v3 replaces the stable v1, which still serves next to it.
	assert.Equal(t, "v1", mustRelease(t, s, "d3").Release.PreviousVersion)
	assert.Equal(t, "d1", idOf(unscoped(t, s).Previous))
	assert.Equal(t, "d1", idOf(unscoped(t, s).Control))
	assert.Equal(t, Counts{Keys: 1, Releases: 3, Live: 2, InProgress: 1, DedupeEntries: 4}, s.Counts())
}

func TestLateEventsDoNotReviveAFinishedRelease(t *testing.T) {
	s := New(testLimits())
	stable(t, s)
	apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour))
	apply(t, s, ev("d2", release.EventFailed, "v2", 2*time.Hour))
	// Reordered or late deliveries for d2 arrive after its end.
	for i, typ := range []release.EventType{release.EventProgressed, release.EventSucceeded, release.EventRolledBack, release.EventRemoved} {
		e := ev("d2", typ, "v2", 90*time.Minute, withPercent(float64(60+i)), withReceivedAt(3*time.Hour+time.Duration(i)))
		ch := apply(t, s, e)
		assert.Equal(t, "d2", ch.Release.ID)
		assert.Empty(t, ch.Touched, typ)
	}
	v2 := mustRelease(t, s, "d2")
	assert.Equal(t, release.StatusFailed, v2.Status)
	assert.Equal(t, at(2*time.Hour), v2.EndedAt)
	assert.Len(t, v2.Events, 6)
	assert.Equal(t, release.StatusSucceeded, mustRelease(t, s, "d1").Status, "a late success of d2 did not supersede v1")
	assert.Equal(t, "d1", idOf(unscoped(t, s).Active))

	// And a late event of a superseded release does not make it live.
	apply(t, s, ev("d3", release.EventSucceeded, "v3", 4*time.Hour))
	require.Equal(t, release.StatusSuperseded, mustRelease(t, s, "d1").Status)
	apply(t, s, ev("d1", release.EventProgressed, "v1", 5*time.Hour, withPercent(100)))
	assert.Equal(t, release.StatusSuperseded, mustRelease(t, s, "d1").Status)
	assert.Equal(t, "d3", idOf(unscoped(t, s).Active))
}

func TestIdentityAttributesAreFixedByTheFirstEvent(t *testing.T) {
	s := New(testLimits())
	apply(t, s, ev("d1", release.EventStarted, "v1", 0, func(e *release.Event) { e.Attributes[release.AttrVCSRevision] = "aaa" }))
	apply(t, s, ev("d1", release.EventSucceeded, "v1-other", time.Minute, func(e *release.Event) {
		e.Attributes[release.AttrVCSRevision] = "bbb"
		e.Release.Owner = "team-payments"
		e.Release.FeatureFlags = []release.FeatureFlag{{Key: "new-pricing", Variant: "on"}}
	}))
	r := mustRelease(t, s, "d1")
	assert.Equal(t, "v1", r.Version())
	assert.Equal(t, "bbb", r.Attributes[release.AttrVCSRevision])
	assert.Equal(t, "team-payments", r.Release.Owner)
	assert.Equal(t, []release.FeatureFlag{{Key: "new-pricing", Variant: "on"}}, r.Release.FeatureFlags)
}

func TestScopedKeysMostSpecificFirst(t *testing.T) {
	s := New(testLimits())
	apply(t, s,
		ev("u1", release.EventSucceeded, "v1", 0),
		ev("eu1", release.EventStarted, "v2", time.Minute, withScope("k8s.cluster.name", "eu-1")),
		ev("eu1w", release.EventStarted, "v3", 2*time.Minute, withScope("k8s.cluster.name", "eu-1", "cloud.region", "eu-west-1")),
		ev("us1", release.EventSucceeded, "v1", 3*time.Minute, withScope("k8s.cluster.name", "us-1")),
	)
	v := s.ServiceView(checkout)
	require.NotNil(t, v)
	assert.Equal(t, checkout, v.Service)
	require.Len(t, v.Keys, 4)
	assert.Equal(t, []ScopeAttr{{Name: "cloud.region", Value: "eu-west-1"}, {Name: "k8s.cluster.name", Value: "eu-1"}}, v.Keys[0].Scope)
	assert.Equal(t, "eu1w", idOf(v.Keys[0].Active))
	assert.Equal(t, []ScopeAttr{{Name: "k8s.cluster.name", Value: "eu-1"}}, v.Keys[1].Scope)
	assert.Equal(t, "eu1", idOf(v.Keys[1].Active))
	assert.Equal(t, []ScopeAttr{{Name: "k8s.cluster.name", Value: "us-1"}}, v.Keys[2].Scope)
	assert.Equal(t, "us1", idOf(v.Keys[2].Active))
	assert.Nil(t, v.Keys[3].Scope)
	assert.Equal(t, "u1", idOf(v.Keys[3].Active))
	// Keys are independent: the eu-1 rollout has no control in its key,
	// and did not take the unscoped v1 as previous version.
	assert.Nil(t, v.Keys[1].Control)
	assert.Empty(t, mustRelease(t, s, "eu1").Release.PreviousVersion)
	assert.Equal(t, 4, s.Counts().Keys)
	assert.Nil(t, s.ServiceView(release.ServiceKey{Name: "checkout", Environment: "production"}), "the namespace is part of the key")
	assert.Nil(t, s.ServiceView(release.ServiceKey{Namespace: "shop", Name: "checkout", Environment: "staging"}))
}

func TestDuplicateWithinWindow(t *testing.T) {
	l := testLimits()
	l.DedupeWindow = time.Hour
	s := New(l)
	e := ev("d1", release.EventStarted, "v1", 0)
	assert.False(t, s.Duplicate(e))
	apply(t, s, e)

	again := func(received time.Duration, opts ...func(*release.Event)) *release.Event {
		return ev("d1", release.EventStarted, "v1", 0, append(opts, withReceivedAt(received))...)
	}
	assert.True(t, s.Duplicate(again(0)))
	assert.True(t, s.Duplicate(again(time.Hour-time.Nanosecond)))
	assert.False(t, s.Duplicate(again(time.Hour)), "the window is over")
	assert.False(t, s.Duplicate(again(0, withSource("github"))), "another source is another delivery")
	assert.False(t, s.Duplicate(ev("d1", release.EventSucceeded, "v1", 0)), "another type is another delivery")

	// Progressed deliveries are told apart by their percentage.
	apply(t, s, ev("d1", release.EventProgressed, "v1", time.Minute, withPercent(20)))
	assert.True(t, s.Duplicate(ev("d1", release.EventProgressed, "v1", time.Minute, withPercent(20))))
	assert.False(t, s.Duplicate(ev("d1", release.EventProgressed, "v1", time.Minute, withPercent(40))))

	// After the window the event applies again and is remembered anew.
	late := again(2 * time.Hour)
	apply(t, s, late)
	assert.True(t, s.Duplicate(again(2*time.Hour+time.Minute)))
	// Remembering at 2h forgot the entries older than the window.
	assert.Equal(t, 1, s.Counts().DedupeEntries)
	assert.Zero(t, s.Evictions().DedupeEntries, "expiry is not eviction")
}

func TestDedupeCapEvictsOldest(t *testing.T) {
	l := testLimits()
	l.MaxDedupeEntries = 3
	s := New(l)
	var events []*release.Event
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		e := ev(id, release.EventStarted, "v"+id, time.Duration(i)*time.Minute)
		events = append(events, e)
		apply(t, s, e)
	}
	assert.False(t, s.Duplicate(events[0]))
	assert.False(t, s.Duplicate(events[1]))
	for _, e := range events[2:] {
		assert.True(t, s.Duplicate(e), e.ID)
	}
	assert.Equal(t, int64(2), s.Evictions().DedupeEntries)
	assert.Equal(t, 3, s.Counts().DedupeEntries)
}

func TestCheckRejectsReusedDeploymentID(t *testing.T) {
	s := New(testLimits())
	stable(t, s)
	assert.NoError(t, s.Check(ev("d1", release.EventProgressed, "v1", time.Hour)))
	assert.NoError(t, s.Check(ev("new", release.EventStarted, "v2", time.Hour, withService("cart"))))

	for name, e := range map[string]*release.Event{
		"another service":     ev("d1", release.EventStarted, "v1", time.Hour, withService("cart")),
		"another environment": ev("d1", release.EventStarted, "v1", time.Hour, withEnv("staging")),
		"another scope":       ev("d1", release.EventStarted, "v1", time.Hour, withScope("k8s.cluster.name", "eu-1")),
		"deployment.id attribute": ev("other-event", release.EventStarted, "v1", time.Hour, withService("cart"), func(e *release.Event) {
			e.Attributes[release.AttrDeploymentID] = "d1"
		}),
	} {
		t.Run(name, func(t *testing.T) {
			err := s.Check(e)
			fe, ok := release.AsFieldError(err)
			require.True(t, ok, "want a FieldError, got %v", err)
			assert.Equal(t, "attributes.deployment.id", fe.Field)
			assert.Equal(t, "conflict", fe.Rule)
			assert.Contains(t, fe.Message, `deployment "d1" belongs to shop/checkout@production`)
		})
	}
}

func TestMaxHistoryKeepsLiveReleases(t *testing.T) {
	l := testLimits()
	l.MaxHistory = 3
	s := New(l)
	apply(t, s,
		ev("d1", release.EventSucceeded, "v1", 1*time.Hour),
		ev("d2", release.EventSucceeded, "v2", 2*time.Hour), // d1 superseded
		ev("d3", release.EventSucceeded, "v3", 3*time.Hour), // d2 superseded
	)
	assert.Zero(t, s.Evictions().Releases)
	apply(t, s, ev("d4", release.EventStarted, "v4", 4*time.Hour)) // 4 > 3: d1, the oldest ended, goes
	assert.Equal(t, int64(1), s.Evictions().Releases)
	apply(t, s, ev("d5", release.EventStarted, "v5", 5*time.Hour)) // d4 superseded; d2 goes
	apply(t, s, ev("d6", release.EventFailed, "v6", 6*time.Hour))  // d3 is live and older than d4: d4 goes
	assert.Equal(t, int64(3), s.Evictions().Releases)

	all := s.Releases(nil)
	assert.Equal(t, []string{"d6", "d5", "d3"}, ids(all))
	assert.Equal(t, []release.Status{release.StatusFailed, release.StatusInProgress, release.StatusSucceeded}, statuses(all))
	for _, id := range []string{"d1", "d2", "d4"} {
		_, ok := s.Release(id)
		assert.False(t, ok, id)
	}
	// An event for an evicted deployment starts it afresh.
	assert.NoError(t, s.Check(ev("d1", release.EventProgressed, "v1", 7*time.Hour)))
	kv := unscoped(t, s)
	assert.Equal(t, "d5", idOf(kv.Active))
	assert.Equal(t, "d3", idOf(kv.Control))
	assert.Equal(t, Counts{Keys: 1, Releases: 3, Live: 2, InProgress: 1, DedupeEntries: 6}, s.Counts())
}

func TestMaxKeysEvictsLeastRecentlyUpdatedIdleKey(t *testing.T) {
	l := testLimits()
	l.MaxKeys = 3
	s := New(l)
	svc := func(name string) release.ServiceKey {
		return release.ServiceKey{Namespace: "shop", Name: name, Environment: "production"}
	}
	apply(t, s,
		ev("busy", release.EventStarted, "v1", 0, withService("busy")), // oldest, but rolling out
		ev("old", release.EventSucceeded, "v1", time.Hour, withService("old")),
		ev("old-2", release.EventSucceeded, "v2", 90*time.Minute, withService("old")),
		ev("newer", release.EventSucceeded, "v1", 2*time.Hour, withService("newer")),
	)
	// "old" was updated at 1h30, "newer" at 2h: "old" is the idle key
	// updated least recently; "busy" is older but has a rollout in progress.
	ch := apply(t, s, ev("fresh", release.EventStarted, "v1", 3*time.Hour, withService("fresh")))
	assert.Equal(t, "fresh", ch.Release.ID)
	assert.Equal(t, Evictions{Keys: 1, Releases: 2}, s.Evictions())
	assert.Equal(t, []release.ServiceKey{svc("old")}, s.TakeEvictedServices())
	assert.Nil(t, s.TakeEvictedServices(), "taken once")
	for _, id := range []string{"old", "old-2"} {
		_, ok := s.Release(id)
		assert.False(t, ok, id)
	}
	assert.Nil(t, s.ServiceView(svc("old")))
	for _, name := range []string{"busy", "newer", "fresh"} {
		assert.NotNil(t, s.ServiceView(svc(name)), name)
	}
	assert.ElementsMatch(t, []release.ServiceKey{svc("busy"), svc("newer"), svc("fresh")}, s.Services())
	assert.Equal(t, []string{"fresh", "newer", "busy"}, ids(s.Releases(nil)))

	// Now every key gets a rollout in progress: the least recently updated
	// key goes anyway.
	apply(t, s, ev("newer-2", release.EventStarted, "v2", 4*time.Hour, withService("newer")))
	apply(t, s, ev("x", release.EventStarted, "v1", 5*time.Hour, withService("x")))
	assert.Nil(t, s.ServiceView(svc("busy")))
	assert.Equal(t, Evictions{Keys: 2, Releases: 3}, s.Evictions())
	assert.Equal(t, 3, s.Counts().Keys)
}

func TestMaxKeysPrefersIdleScopedKey(t *testing.T) {
	l := testLimits()
	l.MaxKeys = 2
	s := New(l)
	apply(t, s,
		ev("eu", release.EventSucceeded, "v1", 0, withScope("k8s.cluster.name", "eu-1")),
		ev("all", release.EventStarted, "v1", time.Minute),
		ev("cart", release.EventSucceeded, "v1", time.Hour, withService("cart")),
	)
	v := s.ServiceView(checkout)
	require.NotNil(t, v)
	require.Len(t, v.Keys, 1, "the eu-1 key was evicted, the service's unscoped key stays")
	assert.Nil(t, v.Keys[0].Scope)
	_, ok := s.Release("eu")
	assert.False(t, ok)
}

func TestAnnotationsCapped(t *testing.T) {
	l := testLimits()
	l.MaxAnnotations = 2
	s := New(l)
	stable(t, s)
	before := mustRelease(t, s, "d1")
	for i, label := range []string{"note", "false_alarm", "root_cause"} {
		r, err := s.ApplyAnnotation(release.Annotation{
			ID: "ann-" + label, ReleaseID: "d1", Label: label, Text: "t", CreatedAt: t0.Add(time.Duration(i) * time.Minute),
		})
		require.NoError(t, err)
		assert.Same(t, r, mustRelease(t, s, "d1"))
	}
	r := mustRelease(t, s, "d1")
	require.Len(t, r.Annotations, 2)
	assert.Equal(t, "ann-false_alarm", r.Annotations[0].ID)
	assert.Equal(t, "ann-root_cause", r.Annotations[1].ID)
	assert.Equal(t, int64(1), s.Evictions().Annotations)
	assert.Empty(t, before.Annotations, "a published release is never mutated")
	assert.Equal(t, "d1", idOf(unscoped(t, s).Active))
	assert.Len(t, unscoped(t, s).Active.Annotations, 2)

	_, err := s.ApplyAnnotation(release.Annotation{ID: "x", ReleaseID: "nope", Label: "note", Text: "t"})
	assert.True(t, errors.Is(err, ErrNotFound), "got %v", err)
}

func decision(id, releaseID string, at time.Duration) *release.Decision {
	return &release.Decision{
		DecisionID: id, Action: release.ActionNotify, Verdict: release.VerdictRegression, Cause: release.CauseEndogenous,
		Confidence: 0.99, DecidedAt: t0.Add(at),
		Release: map[string]string{release.AttrDeploymentID: releaseID, release.AttrServiceName: "checkout"},
		Evidence: []release.Evidence{{
			Signal: "error_rate", Control: 0.011, Candidate: 0.052, Effect: 4.7, Confidence: 0.99,
			Samples: release.Samples{Control: 100, Candidate: 20},
			Window:  release.Window{Start: t0, End: t0.Add(at)}, Exemplars: []string{"4bf92f3577b34da6a3ce929d0e0e4736"},
		}},
		Rationale: "checkout fails more",
	}
}

func TestDecisionsCappedNewestFirst(t *testing.T) {
	l := testLimits()
	l.MaxDecisions = 2
	s := New(l)
	assert.NotNil(t, s.Decisions(nil), "an empty list, not nil")
	assert.Empty(t, s.Decisions(nil))
	for i, id := range []string{"dec-1", "dec-2", "dec-3"} {
		assert.False(t, s.HasDecision(id))
		s.ApplyDecision(decision(id, "d1", time.Duration(i)*time.Minute))
		assert.True(t, s.HasDecision(id))
	}
	got := s.Decisions(nil)
	require.Len(t, got, 2)
	assert.Equal(t, "dec-3", got[0].DecisionID)
	assert.Equal(t, "dec-2", got[1].DecisionID)
	assert.False(t, s.HasDecision("dec-1"))
	assert.True(t, s.HasDecision("dec-2"))
	assert.Equal(t, int64(1), s.Evictions().Decisions)
	assert.Equal(t, 2, s.Counts().Decisions)

	only := s.Decisions(func(d *release.Decision) bool { return d.DecisionID == "dec-2" })
	require.Len(t, only, 1)
	assert.Equal(t, "dec-2", only[0].DecisionID)
	none := s.Decisions(func(*release.Decision) bool { return false })
	assert.NotNil(t, none)
	assert.Empty(t, none)
}

func TestEventRefsCapped(t *testing.T) {
	l := testLimits()
	l.MaxEventRefs = 3
	s := New(l)
	apply(t, s, ev("d1", release.EventStarted, "v1", 0, withPercent(1)))
	for i := 2; i <= 6; i++ {
		apply(t, s, ev("d1", release.EventProgressed, "v1", time.Duration(i)*time.Minute, withPercent(float64(i))))
	}
	r := mustRelease(t, s, "d1")
	require.Len(t, r.Events, 3)
	assert.Equal(t, release.EventStarted, r.Events[0].Type, "the first event is kept")
	assert.Equal(t, pct(5), r.Events[1].RolloutPercentage)
	assert.Equal(t, pct(6), r.Events[2].RolloutPercentage)
	assert.Equal(t, pct(6), r.Release.RolloutPercentage)
}

func TestReleasesNewestFirstAndFiltered(t *testing.T) {
	s := New(testLimits())
	stable(t, s)
	apply(t, s,
		ev("c1", release.EventStarted, "v7", 30*time.Minute, withService("cart")),
		ev("d2", release.EventStarted, "v2", time.Hour),
		ev("b", release.EventStarted, "v1", time.Hour, withService("billing")), // same time: by id
	)
	assert.Equal(t, []string{"b", "d2", "c1", "d1"}, ids(s.Releases(nil)))
	inProgress := s.Releases(func(r *release.Release) bool { return r.Status == release.StatusInProgress })
	assert.Equal(t, []string{"b", "d2", "c1"}, ids(inProgress))
	none := s.Releases(func(*release.Release) bool { return false })
	assert.NotNil(t, none)
	assert.Empty(t, none)
}

// A release ended by another release's event is copied without its maps
// and lists, which both copies then share: later events and annotations
// for it must change neither the release published before nor the copy
// handed out as touched.
func TestEndedCopiesShareNothingThatChangesLater(t *testing.T) {
	s := New(testLimits())
	canary := apply(t, s, ev("d1", release.EventStarted, "v1", 0)).Release
	ch := apply(t, s, ev("d2", release.EventStarted, "v2", time.Minute))
	require.Len(t, ch.Touched, 1)
	superseded := ch.Touched[0]
	require.Equal(t, release.StatusSuperseded, superseded.Status)

	late := ev("d1", release.EventProgressed, "v1", 2*time.Minute, withPercent(50))
	late.Attributes[release.AttrVCSRefName] = "main"
	apply(t, s, late)
	_, err := s.ApplyAnnotation(release.Annotation{ID: "ann-1", ReleaseID: "d1", Label: "note", Text: "t", CreatedAt: t0})
	require.NoError(t, err)

	now := mustRelease(t, s, "d1")
	assert.Equal(t, "main", now.Attributes[release.AttrVCSRefName])
	assert.Len(t, now.Events, 2)
	assert.Len(t, now.Annotations, 1)
	for name, r := range map[string]*release.Release{"published before": canary, "handed out as touched": superseded} {
		assert.NotContains(t, r.Attributes, release.AttrVCSRefName, name)
		assert.Len(t, r.Events, 1, name)
		assert.Empty(t, r.Annotations, name)
	}
	assert.Equal(t, release.StatusInProgress, canary.Status)
	assert.Equal(t, release.StatusSuperseded, superseded.Status)
}
