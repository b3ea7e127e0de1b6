package releasestoreextension

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensionauth"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// fakeAuthData is what a server authenticator puts in the client info:
// the attributes are those oidc ("subject", "membership", "raw") or
// basicauth ("username", "raw") set.
type fakeAuthData map[string]any

func (a fakeAuthData) GetAttribute(name string) any { return a[name] }
func (a fakeAuthData) GetAttributeNames() []string {
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	return names
}

// fakeAuth is a server auth extension: the Authorization header
// "Bearer <user>" authenticates as the identity users[user] (nil: the
// request is let in, naming nobody, as bearertokenauth does).
type fakeAuth struct {
	component.StartFunc
	component.ShutdownFunc
	users map[string]fakeAuthData
}

var _ extensionauth.Server = (*fakeAuth)(nil)

func (f *fakeAuth) Authenticate(ctx context.Context, headers map[string][]string) (context.Context, error) {
	h := headers["Authorization"]
	if len(h) == 0 {
		return ctx, errors.New("no credentials")
	}
	ad, ok := f.users[strings.TrimPrefix(h[0], "Bearer ")]
	if !ok {
		return ctx, errors.New("unknown user")
	}
	if ad == nil {
		return ctx, nil
	}
	cl := client.FromContext(ctx)
	cl.Auth = ad
	return client.NewContext(ctx, cl), nil
}

// startWithAuth starts a store whose server authenticates with auth under
// the id authID, configured as in a collector YAML file.
func startWithAuth(t *testing.T, authID component.ID, auth component.Component) *releaseStore {
	return env{
		host: newHost(map[component.ID]component.Component{authID: auth}),
		cfg: func(c *Config) {
			conf := confmap.NewFromStringMap(map[string]any{"auth": map[string]any{"authenticator": authID.String()}})
			require.NoError(t, conf.Unmarshal(c))
		},
	}.start(t)
}

func pendingDecisions(t *testing.T, s *releaseStore, ids ...string) {
	t.Helper()
	ctx := context.Background()
	record(t, s, event("deploy-1", release.EventStarted, "v2", 0))
	for _, id := range ids {
		_, err := s.PublishDecision(ctx, testDecision(id, "deploy-1"))
		require.NoError(t, err)
		require.NoError(t, s.RecordOutcome(ctx, pendingOutcome(id, "argo")))
	}
}

func storedReview(t *testing.T, s *releaseStore, id string) *release.Review {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.state.Review(id)
	require.True(t, ok, "no review of %s", id)
	return r
}

func TestReviewerIsTheAuthenticatedIdentity(t *testing.T) {
	authID := component.MustNewIDWithName("oidc", "corp")
	s := startWithAuth(t, authID, &fakeAuth{users: map[string]fakeAuthData{
		"alice-token": {"subject": "alice@example.com", "membership": []string{"sre"}, "raw": "alice-token"}, // oidc
		"bob-token":   {"username": "bob", "raw": "Ym9iOnB3"},                                                // basicauth
		"anon-token":  nil,                                                                                   // bearertokenauth
		"empty-token": {"subject": "", "raw": "x"},
	}})
	pendingDecisions(t, s, "dec-1", "dec-2", "dec-3", "dec-4", "dec-5")
	a := newAPI(t, s)

	// oidc's subject wins over the name in the body.
	a.token = "alice-token"
	status, _, body := a.do(http.MethodPost, "/api/v1/decisions/dec-1/approve", "application/json", `{"actor":"mallory"}`)
	require.Equal(t, http.StatusAccepted, status, "%s", body)
	var rv release.Review
	require.NoError(t, json.Unmarshal(body, &rv))
	want := release.Review{DecisionID: "dec-1", Approved: true, Actor: "alice@example.com", ReviewerSource: release.ReviewerAuthenticated,
		Authenticator: "oidc/corp", IdentityAttribute: "subject", At: rv.At}
	assert.Equal(t, want, rv)
	assert.Equal(t, want, *storedReview(t, s, "dec-1"), "the persisted record says where the reviewer came from")

	// basicauth's username; a dismissal the same.
	a.token = "bob-token"
	status, _, body = a.do(http.MethodPost, "/api/v1/decisions/dec-2/dismiss", "application/json", `{"actor":"alice"}`)
	require.Equal(t, http.StatusAccepted, status, "%s", body)
	r := storedReview(t, s, "dec-2")
	assert.False(t, r.Approved)
	assert.Equal(t, "bob", r.Actor)
	assert.Equal(t, release.ReviewerAuthenticated, r.ReviewerSource)
	assert.Equal(t, "username", r.IdentityAttribute)

	// An authenticator that names nobody (bearertokenauth): the body's
	// name, labelled as given in the request, with the authenticator.
	for _, tok := range []string{"anon-token", "empty-token"} {
		a.token = tok
		id := map[string]string{"anon-token": "dec-3", "empty-token": "dec-4"}[tok]
		status, _, body = a.do(http.MethodPost, "/api/v1/decisions/"+id+"/approve", "application/json", `{"actor":"carol"}`)
		require.Equal(t, http.StatusAccepted, status, "%s", body)
		r = storedReview(t, s, id)
		assert.Equal(t, "carol", r.Actor, tok)
		assert.Equal(t, release.ReviewerRequest, r.ReviewerSource, tok)
		assert.Equal(t, "oidc/corp", r.Authenticator, tok)
		assert.Empty(t, r.IdentityAttribute, tok)
	}

	// Same-origin checks still apply to authenticated requests.
	a.token = "alice-token"
	req, err := http.NewRequest(http.MethodPost, a.base+"/api/v1/decisions/dec-5/approve", strings.NewReader(`{}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer alice-token")
	req.Header.Set("Origin", "http://evil.example")
	resp, err := a.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	pending, _ := s.PendingDecision("dec-5")
	assert.True(t, pending)

	// The operator page says who and how.
	a.token = "alice-token"
	status, _, page := a.do(http.MethodGet, "/releases/deploy-1", "", "")
	require.Equal(t, http.StatusOK, status)
	html := string(page)
	assert.Contains(t, html, "approved by alice@example.com")
	assert.Contains(t, html, "authenticated by oidc/corp")
	assert.Contains(t, html, "dismissed by bob")
	assert.Contains(t, html, "name as given, unverified (oidc/corp names nobody)")
	assert.Contains(t, html, "reviews are recorded under the identity oidc/corp establishes")
	assert.NotContains(t, html, "mallory")
}

func TestReviewerFromTheRequestWithoutAuthenticator(t *testing.T) {
	s := env{}.start(t)
	pendingDecisions(t, s, "dec-1")
	a := newAPI(t, s)
	status, _, body := a.do(http.MethodPost, "/api/v1/decisions/dec-1/approve", "application/json", `{"actor":"dana"}`)
	require.Equal(t, http.StatusAccepted, status, "%s", body)
	r := storedReview(t, s, "dec-1")
	assert.Equal(t, "dana", r.Actor)
	assert.Equal(t, release.ReviewerRequest, r.ReviewerSource)
	assert.Empty(t, r.Authenticator)
	_, _, page := a.do(http.MethodGet, "/releases/deploy-1", "", "")
	assert.Contains(t, string(page), "approved by dana")
	assert.Contains(t, string(page), "name as given, unverified</span>")
	assert.NotContains(t, string(page), "reviews are recorded under the identity")
}

// Client info that did not come from the configured authenticator (none
// is configured) is not trusted as an identity.
func TestReviewerIgnoresClientInfoWithoutAuthenticator(t *testing.T) {
	s := env{}.start(t)
	r, err := http.NewRequest(http.MethodPost, "/", nil)
	require.NoError(t, err)
	r = r.WithContext(client.NewContext(r.Context(), client.Info{Auth: fakeAuthData{"subject": "eve"}}))
	var rv release.Review
	s.setReviewer(r, "dana", &rv)
	assert.Equal(t, "dana", rv.Actor)
	assert.Equal(t, release.ReviewerRequest, rv.ReviewerSource)
}
