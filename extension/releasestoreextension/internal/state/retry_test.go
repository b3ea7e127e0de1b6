package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func TestRetryReopensAFailedRelease(t *testing.T) {
	t.Run("failed, started again, succeeded", func(t *testing.T) {
		s := New(testLimits())
		stable(t, s)
		apply(t, s, ev("d2", release.EventFailed, "v2", time.Hour))
		ch := apply(t, s, ev("d2", release.EventStarted, "v2", 2*time.Hour, withReceivedAt(2*time.Hour+1)))
		assert.Equal(t, release.StatusInProgress, ch.Release.Status)
		assert.Nil(t, ch.Release.EndedAt)
		assert.Nil(t, ch.Release.CompletedAt)
		assert.Equal(t, "d2", idOf(unscoped(t, s).Active))
		assert.Equal(t, "d1", idOf(unscoped(t, s).Control), "the stable version is the control again")

		ch = apply(t, s, ev("d2", release.EventSucceeded, "v2", 3*time.Hour))
		require.Len(t, ch.Touched, 1)
		assert.Equal(t, "d1", ch.Touched[0].ID)
		v2 := mustRelease(t, s, "d2")
		assert.Equal(t, release.StatusSucceeded, v2.Status)
		assert.Equal(t, at(3*time.Hour), v2.CompletedAt)
		assert.Nil(t, v2.EndedAt)
		assert.Len(t, v2.Events, 3)
		assert.Equal(t, release.StatusSuperseded, mustRelease(t, s, "d1").Status)
		assert.Equal(t, "d2", idOf(unscoped(t, s).Active))
	})
	t.Run("failed, then succeeded directly", func(t *testing.T) {
		s := New(testLimits())
		stable(t, s)
		apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour), ev("d2", release.EventFailed, "v2", 2*time.Hour))
		apply(t, s, ev("d2", release.EventSucceeded, "v2", 3*time.Hour))
		assert.Equal(t, release.StatusSucceeded, mustRelease(t, s, "d2").Status)
		assert.Equal(t, "d2", idOf(unscoped(t, s).Active))
	})
	t.Run("a retry that fails again ends it again", func(t *testing.T) {
		s := New(testLimits())
		stable(t, s)
		apply(t, s,
			ev("d2", release.EventFailed, "v2", time.Hour),
			ev("d2", release.EventStarted, "v2", 2*time.Hour, withReceivedAt(2*time.Hour+1)),
		)
		apply(t, s, ev("d2-second-failure", release.EventFailed, "v2", 3*time.Hour, ofDeployment("d2")))
		v2 := mustRelease(t, s, "d2")
		assert.Equal(t, release.StatusFailed, v2.Status)
		assert.Equal(t, at(3*time.Hour), v2.EndedAt)
		assert.Equal(t, "d1", idOf(unscoped(t, s).Active))
	})
	t.Run("a retry supersedes another rollout in progress", func(t *testing.T) {
		s := New(testLimits())
		stable(t, s)
		apply(t, s,
			ev("d2", release.EventFailed, "v2", time.Hour),
			ev("d3", release.EventStarted, "v3", 2*time.Hour),
		)
		ch := apply(t, s, ev("d2", release.EventStarted, "v2", 3*time.Hour, withReceivedAt(3*time.Hour+1)))
		assert.Equal(t, []string{"d3"}, ids(ch.Touched))
		assert.Equal(t, release.StatusSuperseded, mustRelease(t, s, "d3").Status)
		assert.Equal(t, release.StatusInProgress, mustRelease(t, s, "d2").Status)
	})
	t.Run("only failures reopen, and only for later events", func(t *testing.T) {
		s := New(testLimits())
		stable(t, s)
		apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour), ev("d2", release.EventRolledBack, "v2", 2*time.Hour))
		apply(t, s, ev("d2", release.EventSucceeded, "v2", 3*time.Hour))
		assert.Equal(t, release.StatusRolledBack, mustRelease(t, s, "d2").Status, "a rollback is not retried")

		apply(t, s, ev("d3", release.EventFailed, "v3", 4*time.Hour))
		apply(t, s, ev("d3", release.EventSucceeded, "v3", 3*time.Hour))
		assert.Equal(t, release.StatusFailed, mustRelease(t, s, "d3").Status, "an event older than the failure is late, not a retry")
	})
}

// TestRetryReplaysToTheSameState applies a retry sequence, then replays the
// same events into a fresh state (as the store does from its journal) and
// compares the results.
func TestRetryReplaysToTheSameState(t *testing.T) {
	events := func() []*release.Event {
		return []*release.Event{
			ev("d1", release.EventSucceeded, "v1", 0),
			ev("d2", release.EventStarted, "v2", time.Hour),
			ev("d2", release.EventFailed, "v2", 2*time.Hour),
			ev("d2-retry", release.EventStarted, "v2", 3*time.Hour, ofDeployment("d2")),
			ev("d2-retry", release.EventSucceeded, "v2", 4*time.Hour, ofDeployment("d2")),
		}
	}
	live := New(testLimits())
	apply(t, live, events()...)
	replayed := New(testLimits())
	for _, e := range events() {
		if !replayed.Duplicate(e) {
			replayed.ApplyEvent(e)
		}
	}
	a, err := live.MarshalJSON()
	require.NoError(t, err)
	b, err := replayed.MarshalJSON()
	require.NoError(t, err)
	assert.JSONEq(t, string(a), string(b))
	assert.Equal(t, release.StatusSucceeded, mustRelease(t, replayed, "d2").Status)
}

// ofDeployment makes an event, with its own delivery id, part of deployment
// id: a retry is a new delivery of the same deployment.
func ofDeployment(id string) func(*release.Event) {
	return func(e *release.Event) { e.Attributes[release.AttrDeploymentID] = id }
}

// restoring builds a CDEvents-style rollback: the version named is the one
// the service returns to.
func restoring(id, version string, at time.Duration) *release.Event {
	e := ev(id, release.EventRolledBack, version, at, withSource("cdevents"))
	e.RestoresVersion = true
	return e
}

func TestRollbackThatRestoresAVersion(t *testing.T) {
	t.Run("deployed v1.0, upgraded v1.1, rolled back to v1.0", func(t *testing.T) {
		s := New(testLimits())
		apply(t, s,
			ev("ce-1", release.EventSucceeded, "v1.0", 0, withSource("cdevents")),
			ev("ce-2", release.EventSucceeded, "v1.1", time.Hour, withSource("cdevents")),
		)
		ch := apply(t, s, restoring("ce-3", "v1.0", 2*time.Hour))
		require.NotNil(t, ch.Release)
		assert.Equal(t, "ce-3", ch.Release.ID)
		assert.Equal(t, release.StatusSucceeded, ch.Release.Status)
		assert.Equal(t, "v1.0", ch.Release.Version())
		assert.Equal(t, "v1.1", ch.Release.Release.PreviousVersion)
		assert.Equal(t, []string{"ce-2"}, ids(ch.Touched))
		assert.Equal(t, release.StatusRolledBack, mustRelease(t, s, "ce-2").Status)
		assert.Equal(t, release.StatusSuperseded, mustRelease(t, s, "ce-1").Status)
		assert.Equal(t, "ce-3", idOf(unscoped(t, s).Active))
		assert.Equal(t, 1, s.Counts().Live)
	})
	t.Run("the version returned to still serves next to the rollout", func(t *testing.T) {
		s := New(testLimits())
		stable(t, s)
		apply(t, s, ev("d2", release.EventStarted, "v2", time.Hour, withPercent(10)))
		ch := apply(t, s, restoring("ce-rb", "v1", 2*time.Hour))
		assert.Equal(t, "d2", ch.Release.ID)
		assert.Equal(t, release.StatusRolledBack, mustRelease(t, s, "d2").Status)
		assert.Equal(t, release.StatusSucceeded, mustRelease(t, s, "d1").Status)
		_, created := s.Release("ce-rb")
		assert.False(t, created)
		assert.Equal(t, "d1", idOf(unscoped(t, s).Active))
	})
	t.Run("nothing known: the version is recorded live", func(t *testing.T) {
		s := New(testLimits())
		ch := apply(t, s, restoring("ce-rb", "v0.9", 0))
		assert.Equal(t, release.StatusSucceeded, ch.Release.Status)
		assert.Empty(t, ch.Touched)
		assert.Equal(t, "ce-rb", idOf(unscoped(t, s).Active))
	})
}
