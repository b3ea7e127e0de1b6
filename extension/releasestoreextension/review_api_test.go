package releasestoreextension

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

type decisionViewJSON struct {
	Decision *release.Decision        `json:"decision"`
	Outcomes []*release.ActionOutcome `json:"outcomes"`
	Pending  bool                     `json:"pending_approval"`
	Review   *release.Review          `json:"review"`
}

func pendingOutcome(decisionID, target string) release.ActionOutcome {
	return release.ActionOutcome{ID: "act-" + target, DecisionID: decisionID, ReleaseID: "deploy-1", Target: target, TargetType: "webhook",
		Action: release.ActionRollback, Status: release.OutcomePending, Detail: "waiting for approval", At: t0}
}

func TestDecisionDetailAndReviewOverHTTP(t *testing.T) {
	dir := t.TempDir()
	s := withStorage(newFileStorage(t, dir)).start(t)
	a := newAPI(t, s)
	ctx := context.Background()
	reviews := make(chan release.Review, 4)
	unsub := s.Subscribe(Subscriber{OnReview: func(_ *release.Decision, r release.Review) { reviews <- r }})
	defer unsub()

	// Unknown decision.
	assert.Equal(t, http.StatusNotFound, a.get("/api/v1/decisions/dec-nope", nil))

	for _, id := range []string{"dec-1", "dec-2", "dec-3"} {
		_, err := s.PublishDecision(ctx, testDecision(id, "deploy-1"))
		require.NoError(t, err)
	}
	require.NoError(t, s.RecordOutcome(ctx, pendingOutcome("dec-1", "rollouts")))
	require.NoError(t, s.RecordOutcome(ctx, pendingOutcome("dec-2", "rollouts")))

	var v decisionViewJSON
	require.Equal(t, http.StatusOK, a.get("/api/v1/decisions/dec-1", &v))
	assert.Equal(t, "dec-1", v.Decision.DecisionID)
	require.Len(t, v.Outcomes, 1)
	assert.Equal(t, release.OutcomePending, v.Outcomes[0].Status)
	assert.True(t, v.Pending)
	assert.Nil(t, v.Review)

	// State-changing requests must be JSON: a cross-site form cannot send it.
	status, _, _ := a.do(http.MethodPost, "/api/v1/decisions/dec-1/approve", "application/x-www-form-urlencoded", "actor=mallory")
	assert.Equal(t, http.StatusUnsupportedMediaType, status)

	status, _, body := a.do(http.MethodPost, "/api/v1/decisions/dec-1/approve", "application/json", `{"actor":"alice"}`)
	require.Equal(t, http.StatusAccepted, status, "%s", body)
	var rv release.Review
	require.NoError(t, json.Unmarshal(body, &rv))
	assert.Equal(t, "dec-1", rv.DecisionID)
	assert.True(t, rv.Approved)
	assert.Equal(t, "alice", rv.Actor)
	select {
	case got := <-reviews:
		assert.Equal(t, rv, got)
	case <-time.After(5 * time.Second):
		t.Fatal("subscribers were not told of the approval")
	}
	// Answered: no longer pending, and a second answer is refused.
	require.Equal(t, http.StatusOK, a.get("/api/v1/decisions/dec-1", &v))
	assert.False(t, v.Pending)
	require.NotNil(t, v.Review)
	assert.Equal(t, "alice", v.Review.Actor)
	status, _, body = a.do(http.MethodPost, "/api/v1/decisions/dec-1/dismiss", "application/json", `{}`)
	assert.Equal(t, http.StatusConflict, status, "%s", body)

	status, _, _ = a.do(http.MethodPost, "/api/v1/decisions/dec-2/dismiss", "application/json", "")
	assert.Equal(t, http.StatusAccepted, status)
	// dec-3 never waited for approval.
	status, _, body = a.do(http.MethodPost, "/api/v1/decisions/dec-3/approve", "application/json", `{}`)
	assert.Equal(t, http.StatusConflict, status, "%s", body)
	status, _, _ = a.do(http.MethodPost, "/api/v1/decisions/dec-nope/approve", "application/json", `{}`)
	assert.Equal(t, http.StatusNotFound, status)
	status, _, _ = a.do(http.MethodPost, "/api/v1/decisions/dec-2/approve", "application/json", `{"actor":"x","extra":1}`)
	assert.Equal(t, http.StatusBadRequest, status)

	// Reviews and outcomes survive a restart.
	require.NoError(t, s.Shutdown(ctx))
	s2 := withStorage(newFileStorage(t, dir)).start(t)
	d, outcomes, ok := s2.Decision("dec-2")
	require.True(t, ok)
	assert.Equal(t, "dec-2", d.DecisionID)
	require.Len(t, outcomes, 1)
	s2.mu.RLock()
	r, answered := s2.state.Review("dec-2")
	pending := s2.state.Pending("dec-2")
	s2.mu.RUnlock()
	require.True(t, answered)
	assert.False(t, r.Approved)
	assert.False(t, pending)
}

func TestReleaseLinkLeadsToTheRelease(t *testing.T) {
	s := env{}.start(t)
	record(t, s, event("deploy-7", release.EventStarted, "v2", 0))
	a := newAPI(t, s)
	status, h, body := a.do(http.MethodGet, "/releases/deploy-7", "", "")
	require.Equal(t, http.StatusOK, status, "the operator page serves the release")
	assert.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
	assert.Contains(t, string(body), "deploy-7")
}
