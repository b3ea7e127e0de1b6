package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

// receiverDir is the release-metadata receiver's directory in the module.
func receiverDir(t *testing.T) string {
	return filepath.Join(e2etest.MustModuleRoot(t), "receiver", "releasemetadatareceiver")
}

// corpusPayload reads a real payload of the receiver's corpus
// (internal/source/testdata/corpus; SOURCES.md there names each origin) and
// lets fn change it; fn may be nil.
func corpusPayload(t *testing.T, name string, fn func(m map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(receiverDir(t), "internal", "source", "testdata", "corpus", name))
	require.NoError(t, err)
	if fn == nil {
		return raw
	}
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	fn(m)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// argocdRender renders a corpus Application through the shipped Argo CD
// notification template, as the notifications controller does.
func argocdRender(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(receiverDir(t), "testdata", "argocd-notifications-cm.yaml"))
	require.NoError(t, err)
	return argocdRenderWith(t, raw, corpusPayload(t, "argocd/"+name, nil))
}

// argocdRenderWith renders the Application app (JSON) through the template
// of the notifications ConfigMap cmYAML.
func argocdRenderWith(t *testing.T, cmYAML, app []byte) []byte {
	t.Helper()
	tmpl, err := e2etest.ArgoCDTemplate(cmYAML)
	require.NoError(t, err)
	body, err := e2etest.RenderArgoCD(tmpl, app)
	require.NoError(t, err)
	return body
}

// TestRealPayloadSequences drives real payloads of Flux, CDEvents, Argo CD
// and GitLab, in order, through the built binary, checks the release each
// sequence leaves in the store, then kills the collector and checks that
// replaying the journal rebuilds the same releases.
func TestRealPayloadSequences(t *testing.T) {
	bin := e2etest.Binary(t)
	p := newPorts(t)
	dir := t.TempDir()
	cfg := e2etest.RenderConfig(t, dir, testdataPath("persist.yaml"), p)
	start := func() *e2etest.Process {
		proc := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Env: isolatedEnv(dir), Args: []string{"--config", cfg}})
		proc.RequireReady(startTimeout, p.releasesURL())
		proc.RequireListening(startTimeout, p.EventsAddr)
		return proc
	}
	post := func(path string, body []byte, headers ...string) {
		t.Helper()
		resp := e2etest.PostJSON(t, p.events(path), body, headers...)
		require.Equalf(t, 202, resp.Status, "POST %s: %s", path, resp.Body)
	}
	first := start()

	// Flux: a failure, then a retry of the same revision that succeeds.
	flux := func(reason, at string) []byte {
		return corpusPayload(t, "flux/providers_generic_validation_failed.json", func(m map[string]any) {
			m["metadata"].(map[string]any)["environment"] = "production" // as an Alert's spec.eventMetadata adds
			m["reason"], m["timestamp"], m["message"] = reason, at, reason
		})
	}
	post("/v1/flux", flux("ArtifactFailed", "2022-10-28T07:26:19Z"))
	post("/v1/flux", flux("Progressing", "2022-10-28T07:27:19Z"))
	post("/v1/flux", flux("ReconciliationSucceeded", "2022-10-28T07:28:19Z"))

	// CDEvents: deployed v1.0, upgraded v1.1, rolled back to v1.0.
	cdevent := func(file, id, version string) []byte {
		return corpusPayload(t, "cdevents/"+file, func(m map[string]any) {
			m["context"].(map[string]any)["id"] = id
			content := m["subject"].(map[string]any)["content"].(map[string]any)
			content["environment"].(map[string]any)["id"] = "production"
			content["artifactId"] = "pkg:oci/myapp@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427?tag=" + version
		})
	}
	post("/v1/cdevents", cdevent("conformance_service_deployed.json", "e2e-ce-1", "v1.0"))
	post("/v1/cdevents", cdevent("conformance_service_upgraded.json", "e2e-ce-2", "v1.1"))
	post("/v1/cdevents", cdevent("conformance_service_rolledback.json", "e2e-ce-3", "v1.0"))

	// Argo CD: a sync running, failing, retried and succeeding.
	for _, f := range []string{"single_source_running.json", "single_source_failed.json", "single_source_retry_running.json", "single_source_succeeded.json"} {
		post("/v1/argocd", argocdRender(t, f))
	}
	// GitLab: the docs' deployment event, with a zone-name time.
	post("/v1/gitlab", corpusPayload(t, "gitlab/webhook_events_deployment_success.json", func(m map[string]any) {
		m["status_changed_at"] = "2021-04-28 19:49:12 UTC"
	}), "X-Gitlab-Event", "Deployment Hook")

	check := func() {
		t.Helper()
		want := map[string]struct{ status, version string }{
			"flux-apps-webapp-731f7eaddfb6": {"succeeded", "731f7eaddfb6af01cb2173e18f0f75b0ba780ef1"},
			"e2e-ce-1":                      {"superseded", "v1.0"},
			"e2e-ce-2":                      {"rolled_back", "v1.1"},
			"e2e-ce-3":                      {"succeeded", "v1.0"},
			"argocd-argo-workflows-0.45.28": {"succeeded", "0.45.28"},
			"gitlab-15":                     {"succeeded", "279484c0"},
		}
		for id, w := range want {
			r := getRelease(t, p.releaseURL(id))
			require.Equalf(t, w.status, r.Status, "status of %s", id)
			require.Equalf(t, w.version, r.Attributes["service.version"], "version of %s", id)
		}
		live := listReleases(t, p.releasesURL()+"?status=succeeded&limit=100")
		require.Equal(t, 4, live.Total, "live releases: %+v", live.Releases)
	}
	check()

	first.Kill()
	start()
	check()
}
