package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

// nativeNoFlags is the native event the no-flags test posts.
const nativeNoFlags = `{
  "id": "deploy-e2e-cart",
  "type": "started",
  "attributes": {
    "service.name": "cart",
    "service.namespace": "shop",
    "service.version": "v2.0.0",
    "deployment.environment.name": "prod",
    "vcs.ref.head.revision": "0123abc",
    "cicd.pipeline.run.id": "4242"
  },
  "release": {
    "previous_version": "v1.9.0",
    "strategy": "canary",
    "rollout_percentage": 25,
    "intent": "e2e: start with no flags",
    "risk": "medium",
    "owner": "team-cart"
  }
}`

// TestNoFlags starts `otelcol-release` with no arguments, on the embedded
// default config and its fixed ports, posts one delivery of every source,
// and reads every release back from the API and the console output.
func TestNoFlags(t *testing.T) {
	bin := e2etest.Binary(t)
	// The default config's ports, and 8888 where the collector serves its
	// own metrics by default.
	e2etest.RequirePortsFree(t, 4317, 4318, 8088, 8089, 13133, 8888)

	home := t.TempDir()
	dataDir := filepath.Join(t.TempDir(), "release-state")
	p := e2etest.Start(t, bin, e2etest.Options{Env: []string{
		"OTELCOL_RELEASE_DATA_DIR=" + dataDir, "HOME=" + home, "XDG_STATE_HOME=",
	}})
	p.RequireReady(startTimeout, "http://localhost:13133/", "http://localhost:8089/api/v1/releases")
	p.RequireListening(startTimeout, "localhost:8088", "localhost:4317", "localhost:4318")

	const events = "http://localhost:8088"
	const api = "http://localhost:8089/api/v1/releases"
	require.Equal(t, 0, listReleases(t, api).Total, "a fresh data directory holds no release")

	flux := samplePayload(t, "flux/kustomization_succeeded.json")
	checkoutEU := identity{"checkout", "shop", "v1.4.2", "production"}
	// Argo CD's delivery id ends with the sync's finish time, which
	// samplePayload moved to two days ago.
	argocdDeployedID := "argocd-checkout-prod-eu-1-9f2c1e7a1b3c-succeeded-healthy-" + strings.ReplaceAll(shiftedDate(), "-", "") + "T100231Z"
	type delivery struct {
		name    string
		path    string
		body    []byte
		headers []string
		// The answer: event id, deployment id, release status then.
		id, deployment, status string
	}
	// All but two of these land on the same release key (shop/checkout in
	// production, cluster eu-1), in this order: deploy-4711 starts; the
	// GitHub deployment starts and supersedes it, then succeeds; Argo CD's
	// and then Flux's successful syncs each supersede the one before.
	deliveries := []delivery{
		{"native", "/v1/events", []byte(nativeNoFlags), []string{"Content-Type", "application/json"},
			"deploy-e2e-cart", "deploy-e2e-cart", "in_progress"},
		{"cdevents structured", "/v1/cdevents", samplePayload(t, "cdevents/structured_deployed.json"),
			[]string{"Content-Type", "application/cloudevents+json"},
			"271069a8-fc18-44f1-b38f-9d70a1695819", "deploy-4711", "succeeded"},
		{"cdevents binary", "/v1/cdevents", samplePayload(t, "cdevents/binary_upgraded.json"), []string{
			"Content-Type", "application/json", "ce-specversion", "1.0", "ce-id", "ce-5e9f6c7a",
			"ce-type", "dev.cdevents.service.upgraded.0.3.0", "ce-source", "%2Ftekton%2Facme%2Fprod-pipelines",
		}, "ce-5e9f6c7a", "5e9f6c7a-8a40-4c41-a9a8-0e0a0b6bd1a4", "succeeded"},
		{"github deployment", "/v1/github", samplePayload(t, "github/deployment.json"), []string{
			"Content-Type", "application/json", "X-GitHub-Event", "deployment", "X-GitHub-Delivery", "e2e-gh-deployment-1",
		}, "e2e-gh-deployment-1", "github-1873264519", "in_progress"},
		{"github deployment_status", "/v1/github", samplePayload(t, "github/deployment_status_success.json"), []string{
			"Content-Type", "application/json", "X-GitHub-Event", "deployment_status", "X-GitHub-Delivery", "e2e-gh-status-1",
		}, "e2e-gh-status-1", "github-1873264519", "succeeded"},
		{"gitlab", "/v1/gitlab", samplePayload(t, "gitlab/deployment_success.json"), []string{
			"Content-Type", "application/json", "X-Gitlab-Event", "Deployment Hook", "X-Gitlab-Event-UUID", "e2e-gitlab-uuid-1",
		}, "e2e-gitlab-uuid-1", "gitlab-15", "succeeded"},
		{"argocd", "/v1/argocd", samplePayload(t, "argocd/deployed.json"), []string{"Content-Type", "application/json"},
			argocdDeployedID, "argocd-checkout-prod-eu-1-9f2c1e7a1b3c", "succeeded"},
		{"flux", "/v1/flux", flux, []string{"Content-Type", "application/json"},
			fluxID(flux), "flux-flux-system-checkout-731f7eaddfb6", "succeeded"},
	}
	for _, d := range deliveries {
		resp := e2etest.Do(t, "POST", events+d.path, d.body, d.headers...)
		t.Run("post "+d.name, func(t *testing.T) {
			requireReply(t, resp, 202, accepted(d.id, d.deployment, d.status))
		})
	}
	if t.Failed() {
		t.FailNow()
	}

	// Every release read back, with its status after all the deliveries.
	var scopeEU any = map[string]any{"k8s.cluster.name": "eu-1"}
	readBack := []struct {
		id     string
		who    identity
		status string
		source string
		scope  any
		events []apiEventRef
	}{
		{"deploy-e2e-cart", identity{"cart", "shop", "v2.0.0", "production"}, "in_progress", "native", nil,
			[]apiEventRef{{"deploy-e2e-cart", "started", "native"}}},
		{"deploy-4711", checkoutEU, "superseded", "cdevents", scopeEU,
			[]apiEventRef{{"271069a8-fc18-44f1-b38f-9d70a1695819", "succeeded", "cdevents"}}},
		{"5e9f6c7a-8a40-4c41-a9a8-0e0a0b6bd1a4", identity{"checkout", "", "v1.4.3", "staging"}, "succeeded", "cdevents", nil,
			[]apiEventRef{{"ce-5e9f6c7a", "succeeded", "cdevents"}}},
		{"github-1873264519", checkoutEU, "superseded", "github", scopeEU,
			[]apiEventRef{{"e2e-gh-deployment-1", "started", "github"}, {"e2e-gh-status-1", "succeeded", "github"}}},
		{"gitlab-15", identity{"checkout", "", "279484c0", "production"}, "succeeded", "gitlab", nil,
			[]apiEventRef{{"e2e-gitlab-uuid-1", "succeeded", "gitlab"}}},
		{"argocd-checkout-prod-eu-1-9f2c1e7a1b3c", identity{"checkout", "shop", "9f2c1e7a1b3c4d5e6f708192a3b4c5d6e7f80912", "production"},
			"superseded", "argocd", scopeEU,
			[]apiEventRef{{argocdDeployedID, "succeeded", "argocd"}}},
		{"flux-flux-system-checkout-731f7eaddfb6", identity{"checkout", "shop", "731f7eaddfb6af01cb2173e18f0f75b0ba780ef1", "production"},
			"succeeded", "flux", scopeEU,
			[]apiEventRef{{fluxID(flux), "succeeded", "flux"}}},
	}
	for _, want := range readBack {
		t.Run("read back "+want.id, func(t *testing.T) {
			r := getRelease(t, api+"/"+want.id)
			assert.Equal(t, want.id, r.ID)
			requireIdentity(t, r, want.who)
			assert.Equal(t, want.status, r.Status)
			assert.Equal(t, want.source, r.Source)
			assert.Equal(t, want.scope, r.Release["scope"])
			assert.Equal(t, want.events, r.Events)
		})
	}
	require.Equal(t, len(readBack), listReleases(t, api).Total)
	// CDEvents' service.deployed and upgraded say "has been deployed":
	// only the native rollout is still in progress.
	inProgress := listReleases(t, api+"?status=in_progress")
	require.Equal(t, 1, inProgress.Total)
	require.Equal(t, "deploy-e2e-cart", inProgress.Releases[0].ID)

	// The default config prints every release record in full on the
	// console (debug exporter, verbosity detailed).
	wantRecords := map[string]int{ // deployment.id -> records
		"deploy-e2e-cart": 1, "deploy-4711": 1, "5e9f6c7a-8a40-4c41-a9a8-0e0a0b6bd1a4": 1, "github-1873264519": 2,
		"gitlab-15": 1, "argocd-checkout-prod-eu-1-9f2c1e7a1b3c": 1, "flux-flux-system-checkout-731f7eaddfb6": 1,
	}
	require.NoError(t, p.WaitForOutput("-> deployment.id: Str(flux-flux-system-checkout-731f7eaddfb6)", waitTimeout))
	out := p.Output()
	assert.Equal(t, 8, strings.Count(out, "EventName: release.deployment"), "release.deployment records on the console")
	for id, n := range wantRecords {
		assert.Equalf(t, n, strings.Count(out, "-> deployment.id: Str("+id+")"), "console records with deployment.id %s", id)
	}
	for source, n := range map[string]int{"native": 1, "cdevents": 2, "github": 2, "gitlab": 1, "argocd": 1, "flux": 1} {
		assert.Equalf(t, n, strings.Count(out, "-> release.source: Str("+source+")"), "console records from %s", source)
	}
	assert.Contains(t, out, "Body: Str(shop/cart v2.0.0 started rolling out in production, canary at 25%, replacing v1.9.0, medium risk, owner team-cart: e2e: start with no flags)")
	assert.Contains(t, out, "Body: Str(checkout 279484c0 rolled out in production)")

	// The same native delivery again is a duplicate: 200, nothing new.
	requireReply(t, e2etest.PostJSON(t, events+"/v1/events", []byte(nativeNoFlags)), 200, duplicate("deploy-e2e-cart", "deploy-e2e-cart"))
	require.Len(t, getRelease(t, api+"/deploy-e2e-cart").Events, 1)
	require.Equal(t, len(readBack), listReleases(t, api).Total)
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 8, strings.Count(p.Output(), "EventName: release.deployment"), "a duplicate prints no record")

	// Release state is persisted in the data directory the environment names.
	entries, err := os.ReadDir(dataDir)
	require.NoError(t, err, "the default config persists release state in $OTELCOL_RELEASE_DATA_DIR")
	require.NotEmpty(t, entries, "no file in $OTELCOL_RELEASE_DATA_DIR %s", dataDir)

	require.NoError(t, p.Stop(), "graceful shutdown on SIGTERM")
	require.Contains(t, p.Output(), "Shutdown complete.")
	require.NoDirExists(t, filepath.Join(home, ".local"), "the collector wrote under $HOME although $OTELCOL_RELEASE_DATA_DIR was set")
}
