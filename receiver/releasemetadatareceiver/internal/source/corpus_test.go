package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

// renderArgoCDCorpus renders a corpus Application through the shipped
// template, as the notifications controller does.
func renderArgoCDCorpus(t testing.TB, file string) []byte {
	t.Helper()
	raw, err := os.ReadFile(argocdConfigMap)
	require.NoError(t, err)
	tmpl, err := e2etest.ArgoCDTemplate(raw)
	require.NoError(t, err)
	body, err := e2etest.RenderArgoCD(tmpl, readTestdata(t, filepath.Join("corpus", "argocd", file)))
	require.NoError(t, err)
	return body
}

// fluxWithEnvironment adds what an Alert's spec.eventMetadata adds.
func fluxWithEnvironment(t testing.TB, body []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	return mutateJSON(t, body, func(m map[string]any) {
		child(m, "metadata")["environment"] = "production"
		if fn != nil {
			fn(m)
		}
	})
}

// TestCorpus parses every real payload and checks what it means.
func TestCorpus(t *testing.T) {
	type want struct {
		typ                   release.EventType
		service, version, env string
		ignored, restores     bool
	}
	tests := []struct {
		source, name string
		d            *Delivery
		want         want
	}{
		{"cdevents", "deployed", newDelivery(readTestdata(t, "corpus/cdevents/conformance_service_deployed.json"), "Content-Type", "application/json"),
			want{typ: release.EventSucceeded, service: "mySubject123", version: "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427", env: "test123"}},
		{"cdevents", "upgraded", newDelivery(readTestdata(t, "corpus/cdevents/conformance_service_upgraded.json"), "Content-Type", "application/json"),
			want{typ: release.EventSucceeded, service: "mySubject123", version: "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427", env: "test123"}},
		{"cdevents", "rolledback", newDelivery(readTestdata(t, "corpus/cdevents/conformance_service_rolledback.json"), "Content-Type", "application/json"),
			want{typ: release.EventRolledBack, service: "mySubject123", version: "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427", env: "test123", restores: true}},
		{"cdevents", "removed", newDelivery(readTestdata(t, "corpus/cdevents/conformance_service_removed.json"), "Content-Type", "application/json"),
			want{typ: release.EventRemoved, service: "mySubject123", env: "test123"}},
		{"cdevents", "pipelinerun finished", newDelivery(readTestdata(t, "corpus/cdevents/conformance_pipelinerun_finished.json"), "Content-Type", "application/json"),
			want{ignored: true}},
		{"flux", "ValidationFailed", fluxDelivery(fluxWithEnvironment(t, readTestdata(t, "corpus/flux/providers_generic_validation_failed.json"), nil)),
			want{typ: release.EventFailed, service: "webapp", version: "731f7eaddfb6af01cb2173e18f0f75b0ba780ef1", env: "production"}},
		{"flux", "PruneFailed", fluxDelivery(fluxWithEnvironment(t, readTestdata(t, "corpus/flux/providers_generic_validation_failed.json"), func(m map[string]any) { m["reason"] = "PruneFailed" })),
			want{typ: release.EventFailed, service: "webapp", version: "731f7eaddfb6af01cb2173e18f0f75b0ba780ef1", env: "production"}},
		{"gitlab", "deployment success", gitlabDelivery(readTestdata(t, "corpus/gitlab/webhook_events_deployment_success.json")),
			want{typ: release.EventSucceeded, service: "test-deployment-webhooks", version: "279484c0", env: "staging"}},
		{"github", "deployment created", newDelivery(readTestdata(t, "corpus/github/octokit_deployment_created.json"), "Content-Type", "application/json", "X-GitHub-Event", "deployment", "X-GitHub-Delivery", "d-1"),
			want{typ: release.EventStarted, service: "Hello-World", version: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", env: "production"}},
		{"github", "deployment_status success", newDelivery(readTestdata(t, "corpus/github/octokit_deployment_status_success.json"), "Content-Type", "application/json", "X-GitHub-Event", "deployment_status", "X-GitHub-Delivery", "d-2"),
			want{typ: release.EventSucceeded, service: "Hello-World", version: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", env: "production"}},
		{"argocd", "single source running", argocdDelivery(renderArgoCDCorpus(t, "single_source_running.json")),
			want{typ: release.EventStarted, service: "argo-workflows", version: "0.45.28", env: "production"}},
		{"argocd", "single source failed", argocdDelivery(renderArgoCDCorpus(t, "single_source_failed.json")),
			want{typ: release.EventFailed, service: "argo-workflows", version: "0.45.28", env: "production"}},
		{"argocd", "single source retry running", argocdDelivery(renderArgoCDCorpus(t, "single_source_retry_running.json")),
			want{typ: release.EventStarted, service: "argo-workflows", version: "0.45.28", env: "production"}},
		{"argocd", "single source succeeded", argocdDelivery(renderArgoCDCorpus(t, "single_source_succeeded.json")),
			want{typ: release.EventSucceeded, service: "argo-workflows", version: "0.45.28", env: "production"}},
		{"argocd", "multi source running", argocdDelivery(renderArgoCDCorpus(t, "multi_source_running.json")),
			want{typ: release.EventStarted, service: "test-app", version: "5f1c0a7e3d9b+1.0.0", env: "staging"}},
		{"argocd", "multi source succeeded", argocdDelivery(renderArgoCDCorpus(t, "multi_source_succeeded.json")),
			want{typ: release.EventSucceeded, service: "test-app", version: "5f1c0a7e3d9b+1.0.0", env: "staging"}},
	}
	for _, tt := range tests {
		t.Run(tt.source+"/"+tt.name, func(t *testing.T) {
			events, err := lookupSource(t, tt.source).Parse(tt.d)
			if tt.want.ignored {
				requireIgnored(t, err)
				return
			}
			require.NoError(t, err)
			require.Empty(t, tt.d.Warnings)
			require.Len(t, events, 1)
			ev := events[0]
			require.Equal(t, tt.want.typ, ev.Type)
			require.Equal(t, tt.want.restores, ev.RestoresVersion)
			require.Equal(t, tt.want.service, ev.Attr(release.AttrServiceName))
			require.Equal(t, tt.want.version, ev.Attr(release.AttrServiceVersion))
			require.Equal(t, tt.want.env, ev.Attr(release.AttrDeploymentEnvironment))
			requireNormalized(t, events)
		})
	}

	t.Run("argocd/a sync and its retries are one deployment", func(t *testing.T) {
		src := lookupSource(t, "argocd")
		ids := map[string]bool{}
		var dep string
		for _, f := range []string{"single_source_running.json", "single_source_failed.json", "single_source_retry_running.json", "single_source_succeeded.json"} {
			events, err := src.Parse(argocdDelivery(renderArgoCDCorpus(t, f)))
			require.NoError(t, err, f)
			if dep == "" {
				dep = events[0].DeploymentID()
			}
			require.Equal(t, dep, events[0].DeploymentID(), f)
			require.False(t, ids[events[0].ID], "%s repeats a delivery id", f)
			ids[events[0].ID] = true
		}
	})
}

// addArgoCDCorpusSeeds adds the corpus Applications rendered through the
// shipped template.
func addArgoCDCorpusSeeds(f *testing.F) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "corpus", "argocd", "*.json"))
	require.NoError(f, err)
	for _, p := range paths {
		f.Add(renderArgoCDCorpus(f, filepath.Base(p)))
	}
}
