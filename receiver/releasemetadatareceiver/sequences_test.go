package releasemetadatareceiver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"text/template"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

// Real payloads (internal/source/testdata/corpus, see its SOURCES.md files)
// driven in order through the receiver into a real store; each test asserts
// what the store then holds, not only the answers.

const corpusDir = "internal/source/testdata/corpus"

func readCorpus(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, path))
	require.NoError(t, err)
	return b
}

// mutate decodes a JSON document, lets fn change it and encodes it again.
func mutate(t *testing.T, body []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	fn(m)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// accepted posts a delivery that must be accepted and returns its reply.
func (h *harness) accepted(t *testing.T, path string, body []byte, headers map[string]string) answer {
	t.Helper()
	a := h.post(t, path, "application/json", body, headers)
	require.Equal(t, http.StatusAccepted, a.code, "%s: %v", path, a.body)
	return a
}

// active returns the live release of a service in an environment (unscoped).
func (h *harness) active(t *testing.T, name, env string) *release.Release {
	t.Helper()
	v := h.store.Service(release.ServiceKey{Name: name, Environment: env})
	if v == nil || len(v.Keys) == 0 {
		return nil
	}
	return v.Keys[len(v.Keys)-1].Active
}

func (h *harness) release(t *testing.T, id string) *release.Release {
	t.Helper()
	r, ok := h.store.Release(id)
	require.True(t, ok, "release %s is stored", id)
	return r
}

// fluxEvent is the Flux docs' event with the environment an Alert's
// spec.eventMetadata adds, and the reason and time of one step.
func fluxEvent(t *testing.T, reason, severity, at string) []byte {
	return mutate(t, readCorpus(t, "flux/providers_generic_validation_failed.json"), func(m map[string]any) {
		m["metadata"].(map[string]any)["environment"] = "production"
		m["reason"], m["severity"], m["timestamp"] = reason, severity, at
		m["message"] = reason
	})
}

func TestSequenceFluxFailureThenRetrySucceeds(t *testing.T) {
	h := startHarness(t, nil, nil)
	const dep = "flux-apps-webapp-731f7eaddfb6"
	a := h.accepted(t, "/v1/flux", fluxEvent(t, "ArtifactFailed", "error", "2022-10-28T07:26:19Z"), nil)
	assert.Equal(t, string(release.StatusFailed), a.body["events"].([]any)[0].(map[string]any)["status"])
	assert.Equal(t, release.StatusFailed, h.release(t, dep).Status)
	assert.Nil(t, h.active(t, "webapp", "production"))

	h.accepted(t, "/v1/flux", fluxEvent(t, "Progressing", "info", "2022-10-28T07:27:19Z"), nil)
	assert.Equal(t, release.StatusInProgress, h.release(t, dep).Status, "the retry reopens the failed release")

	h.accepted(t, "/v1/flux", fluxEvent(t, "ReconciliationSucceeded", "info", "2022-10-28T07:28:19Z"), nil)
	r := h.release(t, dep)
	assert.Equal(t, release.StatusSucceeded, r.Status)
	assert.Nil(t, r.EndedAt)
	assert.Equal(t, "731f7eaddfb6af01cb2173e18f0f75b0ba780ef1", r.Version())
	require.NotNil(t, h.active(t, "webapp", "production"))
	assert.Equal(t, dep, h.active(t, "webapp", "production").ID)
}

func TestSequenceFluxValidationAndPruneFailures(t *testing.T) {
	h := startHarness(t, nil, nil)
	h.accepted(t, "/v1/flux", fluxEvent(t, "Progressing", "info", "2022-10-28T07:25:19Z"), nil)
	h.accepted(t, "/v1/flux", mutate(t, readCorpus(t, "flux/providers_generic_validation_failed.json"), func(m map[string]any) {
		m["metadata"].(map[string]any)["environment"] = "production"
	}), nil)
	assert.Equal(t, release.StatusFailed, h.release(t, "flux-apps-webapp-731f7eaddfb6").Status)

	a := h.accepted(t, "/v1/flux", fluxEvent(t, "PruneFailed", "error", "2022-10-28T07:29:19Z"), nil)
	assert.Equal(t, string(release.StatusFailed), a.body["events"].([]any)[0].(map[string]any)["status"])
}

func TestSequenceFluxOCIRevision(t *testing.T) {
	h := startHarness(t, nil, nil)
	const digest = "0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427"
	body := mutate(t, fluxEvent(t, "ReconciliationSucceeded", "info", "2022-10-28T07:26:19Z"), func(m map[string]any) {
		meta := m["metadata"].(map[string]any)
		meta["kustomize.toolkit.fluxcd.io/revision"] = "6.1.6@sha256:" + digest
		meta["kustomize.toolkit.fluxcd.io/originRevision"] = "main@sha1:731f7eaddfb6af01cb2173e18f0f75b0ba780ef1"
	})
	h.accepted(t, "/v1/flux", body, nil)
	r := h.release(t, "flux-apps-webapp-6.1.6")
	assert.Equal(t, "6.1.6", r.Version())
	assert.Equal(t, "sha256:"+digest, r.Attributes[release.AttrOCIManifestDigest])
	assert.Equal(t, "731f7eaddfb6af01cb2173e18f0f75b0ba780ef1", r.Attributes[release.AttrVCSRevision])
	assert.Equal(t, "main", r.Attributes[release.AttrVCSRefName])
}

// cdevent is a conformance example with its own id and version, in
// environment "production".
func cdevent(t *testing.T, file, id, version string) []byte {
	return mutate(t, readCorpus(t, "cdevents/"+file), func(m map[string]any) {
		m["context"].(map[string]any)["id"] = id
		content := m["subject"].(map[string]any)["content"].(map[string]any)
		content["environment"].(map[string]any)["id"] = "production"
		if version != "" {
			content["artifactId"] = "pkg:oci/myapp@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427?tag=" + version
		}
	})
}

func TestSequenceCDEventsDeployedUpgradedRolledBackRemoved(t *testing.T) {
	h := startHarness(t, nil, nil)
	const svc, env = "mySubject123", "production"
	h.accepted(t, "/v1/cdevents", cdevent(t, "conformance_service_deployed.json", "ce-1", "v1.0"), nil)
	assert.Equal(t, release.StatusSucceeded, h.release(t, "ce-1").Status, "has been deployed: done")
	assert.Equal(t, "ce-1", h.active(t, svc, env).ID)

	h.accepted(t, "/v1/cdevents", cdevent(t, "conformance_service_upgraded.json", "ce-2", "v1.1"), nil)
	assert.Equal(t, release.StatusSucceeded, h.release(t, "ce-2").Status)
	assert.Equal(t, release.StatusSuperseded, h.release(t, "ce-1").Status)
	assert.Equal(t, "v1.1", h.active(t, svc, env).Version())

	h.accepted(t, "/v1/cdevents", cdevent(t, "conformance_service_rolledback.json", "ce-3", "v1.0"), nil)
	assert.Equal(t, release.StatusRolledBack, h.release(t, "ce-2").Status)
	live := h.active(t, svc, env)
	require.NotNil(t, live, "the version rolled back to is live")
	assert.Equal(t, "v1.0", live.Version())
	assert.Equal(t, release.StatusSucceeded, live.Status)
	assert.Equal(t, "v1.1", live.Release.PreviousVersion)

	h.accepted(t, "/v1/cdevents", cdevent(t, "conformance_service_removed.json", "ce-4", ""), nil)
	assert.Nil(t, h.active(t, svc, env), "removed ends the release")
	assert.Equal(t, release.StatusRemoved, h.release(t, live.ID).Status)
}

// argocdTemplate is the shipped notification template.
func argocdTemplate(t *testing.T) *template.Template {
	t.Helper()
	raw, err := os.ReadFile("testdata/argocd-notifications-cm.yaml")
	require.NoError(t, err)
	tmpl, err := e2etest.ArgoCDTemplate(raw)
	require.NoError(t, err)
	return tmpl
}

// argocdBody renders a corpus Application through the template.
func argocdBody(t *testing.T, tmpl *template.Template, file string) []byte {
	t.Helper()
	body, err := e2etest.RenderArgoCD(tmpl, readCorpus(t, "argocd/"+file))
	require.NoError(t, err)
	return body
}

func TestSequenceArgoCDRunningFailedRetrySucceeded(t *testing.T) {
	h := startHarness(t, nil, nil)
	tmpl := argocdTemplate(t)
	const dep = "argocd-argo-workflows-0.45.28"
	steps := []struct {
		file   string
		status release.Status
	}{
		{"single_source_running.json", release.StatusInProgress},
		{"single_source_failed.json", release.StatusFailed},
		{"single_source_retry_running.json", release.StatusInProgress},
		{"single_source_succeeded.json", release.StatusSucceeded},
	}
	for _, s := range steps {
		a := h.accepted(t, "/v1/argocd", argocdBody(t, tmpl, s.file), nil)
		ev := a.body["events"].([]any)[0].(map[string]any)
		assert.Equal(t, dep, ev["deployment_id"], s.file)
		assert.Equal(t, string(s.status), ev["status"], s.file)
		assert.Equal(t, s.status, h.release(t, dep).Status, s.file)
	}
	live := h.active(t, "argo-workflows", "production")
	require.NotNil(t, live)
	assert.Equal(t, dep, live.ID)
	assert.Equal(t, "0.45.28", live.Version())
	_, stale := h.store.Release("argocd-argo-workflows-0.45.27")
	assert.False(t, stale, "the version still deployed while the sync ran is not a rollout")
}

func TestSequenceArgoCDMultiSource(t *testing.T) {
	h := startHarness(t, nil, nil)
	tmpl := argocdTemplate(t)
	started := h.accepted(t, "/v1/argocd", argocdBody(t, tmpl, "multi_source_running.json"), nil)
	done := h.accepted(t, "/v1/argocd", argocdBody(t, tmpl, "multi_source_succeeded.json"), nil)
	dep := started.body["events"].([]any)[0].(map[string]any)["deployment_id"].(string)
	assert.Equal(t, dep, done.body["events"].([]any)[0].(map[string]any)["deployment_id"])
	r := h.release(t, dep)
	assert.Equal(t, release.StatusSucceeded, r.Status)
	assert.Equal(t, "5f1c0a7e3d9b+1.0.0", r.Version())
	assert.Equal(t, "5f1c0a7e3d9b2c4a6e8f0b1d3c5a7e9f2b4d6c8a", r.Attributes[release.AttrVCSRevision])
	assert.Equal(t, dep, h.active(t, "test-app", "staging").ID)
}

func TestSequenceGitLabTimeWithZoneName(t *testing.T) {
	h := startHarness(t, nil, nil)
	headers := map[string]string{"X-Gitlab-Event": "Deployment Hook"}
	body := readCorpus(t, "gitlab/webhook_events_deployment_success.json")
	for i, at := range []string{"2021-04-28 21:50:00 +0200", "2021-04-28 19:49:12 UTC"} {
		b := mutate(t, body, func(m map[string]any) {
			m["status_changed_at"] = at
			m["deployment_id"] = 15 + i
		})
		a := h.accepted(t, "/v1/gitlab", b, headers)
		assert.Nil(t, a.body["warnings"], at)
		r := h.release(t, fmt.Sprintf("gitlab-%d", 15+i))
		assert.Equal(t, release.StatusSucceeded, r.Status)
		assert.Equal(t, "279484c09fbe69ededfced8c1bb6e6d24616b468", r.Attributes[release.AttrVCSRevision])
	}
	assert.Equal(t, "gitlab-16", h.active(t, "test-deployment-webhooks", "staging").ID)
}
