package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

// TestReviewerWithBearerTokenAuth runs the built binary with its API behind
// bearertokenauth and approves a held rollback. bearertokenauth checks a
// shared token and puts no identity in the request's client info (it names
// nobody; oidc sets "subject", basicauth "username"), so the reviewer is
// the name the request gave, and the stored review says so: reviewer_source
// "request", authenticator "bearertokenauth". The authenticated path is
// covered by the extension's unit tests (TestReviewerIsTheAuthenticatedIdentity).
func TestReviewerWithBearerTokenAuth(t *testing.T) {
	bin := e2etest.Binary(t)
	a := browserAddrs{grpc: e2etest.FreeAddr(t), http: e2etest.FreeAddr(t), events: e2etest.FreeAddr(t), api: e2etest.FreeAddr(t), health: e2etest.FreeAddr(t)}
	cfg := browserConfig(t, a)
	replace := func(old, repl string) {
		t.Helper()
		require.Containsf(t, cfg, old, "the config has changed: %q is gone", old)
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	replace("\n    trace_url_template: http://localhost:16686/trace/{trace_id}\n",
		"\n    trace_url_template: http://localhost:16686/trace/{trace_id}\n    auth:\n      authenticator: bearertokenauth\n")
	replace("\nextensions:\n", "\nextensions:\n  bearertokenauth:\n    token: s3cret\n")
	replace("extensions: [file_storage/release, releasestore, health_check]", "extensions: [bearertokenauth, file_storage/release, releasestore, health_check]")
	dir := t.TempDir()
	cfgPath := e2etest.WriteFile(t, dir, "config.yaml", []byte(cfg))
	p := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Args: []string{"--config", cfgPath}, Env: isolatedEnv(dir)})
	api := "http://" + a.api
	p.RequireReady(startTimeout, "http://"+a.health+"/")
	p.RequireListening(startTimeout, a.api, a.events, a.http)
	auth := []string{"Authorization", "Bearer s3cret"}
	require.Equal(t, 401, e2etest.Get(t, api+"/api/v1/decisions").Status, "the API is behind bearertokenauth")

	c := newCanary(t, "http://"+a.events, "http://"+a.http, 42)
	c.stable(12)
	c.post(`{"id":"deploy-4711","type":"started","attributes":{"service.name":"checkout","service.namespace":"shop",
	  "service.version":"v1.4.2","deployment.environment.name":"production"},
	  "release":{"previous_version":"v1.4.1","strategy":"canary","rollout_percentage":20}}`)
	const decisionID = "dec-deploy-4711-rollback"
	var view struct {
		Pending bool            `json:"pending_approval"`
		Review  *release.Review `json:"review"`
	}
	deadline := time.Now().Add(90 * time.Second)
	for !view.Pending && time.Now().Before(deadline) {
		c.tick()
		if resp := e2etest.Get(t, api+"/api/v1/decisions/"+decisionID, auth...); resp.Status == 200 {
			resp.JSON(t, &view)
		}
	}
	require.True(t, view.Pending, "no rollback held for approval within 90 s; output:\n%s", p.Tail(60))

	// Without the token: refused before anything is recorded.
	resp := e2etest.PostJSON(t, api+"/api/v1/decisions/"+decisionID+"/approve", []byte(`{"actor":"mallory"}`))
	require.Equalf(t, 401, resp.Status, "answer: %s", resp.Body)
	// A cross-site approval with the token is still refused.
	resp = e2etest.PostJSON(t, api+"/api/v1/decisions/"+decisionID+"/approve", []byte(`{"actor":"mallory"}`),
		append([]string{"Origin", "http://evil.example"}, auth...)...)
	require.Equalf(t, 403, resp.Status, "answer: %s", resp.Body)

	resp = e2etest.PostJSON(t, api+"/api/v1/decisions/"+decisionID+"/approve", []byte(`{"actor":"erin"}`), auth...)
	require.Equalf(t, 202, resp.Status, "answer: %s", resp.Body)
	resp = e2etest.Get(t, api+"/api/v1/decisions/"+decisionID, auth...)
	require.Equal(t, 200, resp.Status)
	resp.JSON(t, &view)
	require.NotNil(t, view.Review, "answer: %s", resp.Body)
	assert.True(t, view.Review.Approved)
	assert.Equal(t, "erin", view.Review.Actor)
	assert.Equal(t, release.ReviewerRequest, view.Review.ReviewerSource, "bearertokenauth names nobody: the name is the request's")
	assert.Equal(t, "bearertokenauth", view.Review.Authenticator)
	assert.Empty(t, view.Review.IdentityAttribute)

	page := e2etest.Get(t, api+"/releases/deploy-4711", auth...)
	require.Equal(t, 200, page.Status)
	assert.Contains(t, string(page.Body), "approved by erin")
	assert.Contains(t, string(page.Body), "name as given, unverified (bearertokenauth names nobody)")
}
