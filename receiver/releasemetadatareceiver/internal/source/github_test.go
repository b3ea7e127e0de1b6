package source

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const (
	githubDeliveryID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	githubSHA        = "9f2c1e7a1b3c4d5e6f708192a3b4c5d6e7f80912"
)

func githubDelivery(body []byte, event string, extra ...string) *Delivery {
	return newDelivery(body, append([]string{
		"Content-Type", "application/json",
		"X-GitHub-Event", event,
		"X-GitHub-Delivery", githubDeliveryID,
		"User-Agent", "GitHub-Hookshot/044aadd",
	}, extra...)...)
}

// githubProductionAttrs are the attributes of deployment 1873264519 in
// testdata/github (created through the REST API with an object payload).
func githubProductionAttrs() map[string]string {
	return map[string]string{
		release.AttrDeploymentID:          "github-1873264519",
		release.AttrServiceName:           "checkout",
		release.AttrServiceNamespace:      "shop",
		release.AttrServiceVersion:        "v1.4.2",
		release.AttrDeploymentEnvironment: "production",
		release.AttrVCSRevision:           githubSHA,
		release.AttrVCSRefName:            "v1.4.2",
		release.AttrVCSRepositoryURL:      "https://github.com/acme/checkout",
	}
}

func githubProductionRelease() release.Context {
	return release.Context{
		PreviousVersion:   "v1.4.1",
		Strategy:          release.StrategyCanary,
		RolloutPercentage: ptr(10.0),
		FeatureFlags:      []release.FeatureFlag{{Key: "new-pricing", Variant: "on"}},
		Intent:            "move cart pricing to the new engine",
		Risk:              "high",
		Owner:             "team-payments",
		Scope:             map[string]string{"k8s.cluster.name": "eu-1"},
	}
}

func TestGitHubParse(t *testing.T) {
	ts := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	production := func(typ release.EventType, at string) release.Event {
		return release.Event{
			ID: githubDeliveryID, Type: typ, Time: ts(at), ReceivedAt: testReceivedAt, Source: "github",
			Attributes: githubProductionAttrs(), Release: githubProductionRelease(),
		}
	}
	tests := []struct {
		name  string
		file  string
		event string
		want  release.Event
	}{
		{"deployment with object payload", "github/deployment.json", "deployment",
			production(release.EventStarted, "2026-11-24T10:00:00Z")},
		{"status in_progress", "github/deployment_status_in_progress.json", "deployment_status",
			production(release.EventStarted, "2026-11-24T10:00:05Z")},
		{"status success", "github/deployment_status_success.json", "deployment_status",
			production(release.EventSucceeded, "2026-11-24T10:12:41Z")},
		{"status failure", "github/deployment_status_failure.json", "deployment_status",
			production(release.EventFailed, "2026-11-24T10:07:13Z")},
		{"deployment by GitHub Actions with a string payload", "github/deployment_actions.json", "deployment",
			release.Event{
				ID: githubDeliveryID, Type: release.EventStarted, Time: ts("2026-11-24T09:59:50Z"),
				ReceivedAt: testReceivedAt, Source: "github",
				Attributes: map[string]string{
					release.AttrDeploymentID:          "github-1873264519",
					release.AttrServiceName:           "checkout-api",
					release.AttrServiceVersion:        "1.4.2",
					release.AttrDeploymentEnvironment: "staging",
					release.AttrVCSRevision:           githubSHA,
					release.AttrVCSRefName:            "main",
					release.AttrVCSRepositoryURL:      "https://github.com/acme/checkout",
					release.AttrCICDPipelineRunID:     "11872634412",
					release.AttrCICDPipelineName:      "deploy",
				},
			}},
	}
	src := lookupSource(t, "github")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := src.Parse(githubDelivery(readTestdata(t, tt.file), tt.event))
			require.NoError(t, err)
			requireEvents(t, []release.Event{tt.want}, events)
			requireNormalized(t, events)
		})
	}
}

func TestGitHubParseFormEncoded(t *testing.T) {
	body := []byte("payload=" + url.QueryEscape(string(readTestdata(t, "github/deployment.json"))))
	d := githubDelivery(body, "deployment")
	d.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	events, err := lookupSource(t, "github").Parse(d)
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Equal(t, githubProductionAttrs(), events[0].Attributes)
	require.Equal(t, githubProductionRelease(), events[0].Release)

	// The signature covers the form-encoded bytes as received.
	require.NoError(t, lookupSource(t, "github").Authenticate(
		withHeader(d, "X-Hub-Signature-256", SignHexHMAC([]byte("s3cret"), body)), []byte("s3cret")))

	d = githubDelivery([]byte("other=1"), "deployment", "Content-Type", "application/x-www-form-urlencoded")
	d.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, err = lookupSource(t, "github").Parse(d)
	requireFieldError(t, err, "payload", release.RuleRequired)
}

func withHeader(d *Delivery, name, value string) *Delivery {
	d.Header.Set(name, value)
	return d
}

func TestGitHubPayloadDefaults(t *testing.T) {
	src := lookupSource(t, "github")
	base := readTestdata(t, "github/deployment.json")
	t.Run("no payload: repository name and sha, description as intent", func(t *testing.T) {
		body := mutateJSON(t, base, func(m map[string]any) { child(m, "deployment")["payload"] = map[string]any{} })
		events, err := src.Parse(githubDelivery(body, "deployment"))
		require.NoError(t, err)
		attrs := events[0].Attributes
		require.Equal(t, "checkout", attrs[release.AttrServiceName])
		require.Equal(t, githubSHA, attrs[release.AttrServiceVersion])
		require.NotContains(t, attrs, release.AttrServiceNamespace)
		require.Equal(t, release.Context{Intent: "move cart pricing to the new engine"}, events[0].Release)
	})
	t.Run("payload service.name wins over service", func(t *testing.T) {
		body := mutateJSON(t, base, func(m map[string]any) {
			child(m, "deployment")["payload"] = map[string]any{"service.name": "a", "service": "b", "version": 7}
		})
		events, err := src.Parse(githubDelivery(body, "deployment"))
		require.NoError(t, err)
		require.Equal(t, "a", events[0].Attributes[release.AttrServiceName])
		require.Equal(t, "7", events[0].Attributes[release.AttrServiceVersion])
	})
	t.Run("free-text string payload is not ours", func(t *testing.T) {
		body := mutateJSON(t, base, func(m map[string]any) { child(m, "deployment")["payload"] = "deploy to canary first" })
		events, err := src.Parse(githubDelivery(body, "deployment"))
		require.NoError(t, err)
		require.Equal(t, githubSHA, events[0].Attributes[release.AttrServiceVersion])
	})
	t.Run("status without environment uses the deployment's", func(t *testing.T) {
		body := mutateJSON(t, readTestdata(t, "github/deployment_status_success.json"), func(m map[string]any) {
			delete(child(m, "deployment_status"), "environment")
			child(m, "deployment")["environment"] = "stg"
		})
		events, err := src.Parse(githubDelivery(body, "deployment_status"))
		require.NoError(t, err)
		require.Equal(t, "stg", events[0].Attributes[release.AttrDeploymentEnvironment])
		requireNormalized(t, events)
		require.Equal(t, "staging", events[0].Attributes[release.AttrDeploymentEnvironment])
	})
}

func TestGitHubIgnored(t *testing.T) {
	src := lookupSource(t, "github")
	for _, tt := range []struct {
		name, file, event string
	}{
		{"ping", "github/ping.json", "ping"},
		{"push", "github/ping.json", "push"},
		{"queued status", "github/deployment_status_queued.json", "deployment_status"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := src.Parse(githubDelivery(readTestdata(t, tt.file), tt.event))
			requireIgnored(t, err)
		})
	}
	for _, state := range []string{"pending", "waiting", "inactive"} {
		body := mutateJSON(t, readTestdata(t, "github/deployment_status_success.json"), func(m map[string]any) {
			child(m, "deployment_status")["state"] = state
		})
		_, err := src.Parse(githubDelivery(body, "deployment_status"))
		requireIgnored(t, err)
	}
}

func TestGitHubMalformed(t *testing.T) {
	src := lookupSource(t, "github")
	dep := readTestdata(t, "github/deployment.json")
	status := readTestdata(t, "github/deployment_status_success.json")
	mut := func(body []byte, fn func(m map[string]any)) []byte { return mutateJSON(t, body, fn) }
	tests := []struct {
		name  string
		d     *Delivery
		field string
		rule  string
	}{
		{"no event header", newDelivery(dep, "X-GitHub-Delivery", githubDeliveryID), "header X-GitHub-Event", release.RuleRequired},
		{"no delivery header", newDelivery(dep, "X-GitHub-Event", "deployment"), "header X-GitHub-Delivery", release.RuleRequired},
		{"not JSON", githubDelivery([]byte(`{"deployment": `), "deployment"), "body", release.RuleSyntax},
		{"empty body", githubDelivery(nil, "deployment"), "body", release.RuleRequired},
		{"array body", githubDelivery([]byte(`[1]`), "deployment"), "body", release.RuleType},
		{"no deployment", githubDelivery(mut(dep, func(m map[string]any) { delete(m, "deployment") }), "deployment"),
			"deployment", release.RuleRequired},
		{"deployment not an object", githubDelivery(mut(dep, func(m map[string]any) { m["deployment"] = "x" }), "deployment"),
			"deployment", release.RuleType},
		{"no deployment id", githubDelivery(mut(dep, func(m map[string]any) { delete(child(m, "deployment"), "id") }), "deployment"),
			"deployment.id", release.RuleRequired},
		{"deployment id object", githubDelivery(mut(dep, func(m map[string]any) { child(m, "deployment")["id"] = map[string]any{} }), "deployment"),
			"deployment.id", release.RuleType},
		{"no environment", githubDelivery(mut(dep, func(m map[string]any) { delete(child(m, "deployment"), "environment") }), "deployment"),
			"deployment.environment", release.RuleRequired},
		{"environment number", githubDelivery(mut(dep, func(m map[string]any) { child(m, "deployment")["environment"] = 3 }), "deployment"),
			"deployment.environment", release.RuleType},
		{"no sha and no version", githubDelivery(mut(dep, func(m map[string]any) {
			delete(child(m, "deployment"), "sha")
			delete(child(m, "deployment", "payload"), "service.version")
		}), "deployment"), "deployment.sha", release.RuleRequired},
		{"no repository and no service", githubDelivery(mut(dep, func(m map[string]any) { delete(m, "repository") }), "deployment"),
			"repository.name", release.RuleRequired},
		{"payload service is an array", githubDelivery(mut(dep, func(m map[string]any) {
			child(m, "deployment", "payload")["service"] = []any{"a"}
		}), "deployment"), "deployment.payload.service", release.RuleType},
		{"payload string that is broken JSON", githubDelivery(mut(dep, func(m map[string]any) {
			child(m, "deployment")["payload"] = `{"service": `
		}), "deployment"), "deployment.payload", release.RuleSyntax},
		{"no deployment_status", githubDelivery(mut(status, func(m map[string]any) { delete(m, "deployment_status") }), "deployment_status"),
			"deployment_status", release.RuleRequired},
		{"no state", githubDelivery(mut(status, func(m map[string]any) { delete(child(m, "deployment_status"), "state") }), "deployment_status"),
			"deployment_status.state", release.RuleRequired},
		{"unknown state", githubDelivery(mut(status, func(m map[string]any) { child(m, "deployment_status")["state"] = "exploded" }), "deployment_status"),
			"deployment_status.state", release.RuleEnum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := src.Parse(tt.d)
			requireFieldError(t, err, tt.field, tt.rule)
		})
	}
}

// Optional members that cannot be read are dropped with a warning naming
// them; the deploy is kept.
func TestGitHubOptionalFieldsAreDropped(t *testing.T) {
	src := lookupSource(t, "github")
	dep := readTestdata(t, "github/deployment.json")
	status := readTestdata(t, "github/deployment_status_success.json")
	mut := func(body []byte, fn func(m map[string]any)) []byte { return mutateJSON(t, body, fn) }
	tests := []struct {
		name  string
		d     *Delivery
		field string
		rule  string
	}{
		{"bad created_at", githubDelivery(mut(dep, func(m map[string]any) { child(m, "deployment")["created_at"] = "yesterday" }), "deployment"),
			"deployment.created_at", release.RuleFormat},
		{"release typo", githubDelivery(mut(dep, func(m map[string]any) {
			child(m, "deployment", "payload", "release")["stratgy"] = "canary"
		}), "deployment"), "deployment.payload.release.stratgy", release.RuleUnmapped},
		{"release key in another case", githubDelivery(mut(dep, func(m map[string]any) {
			child(m, "deployment", "payload", "release")["Strategy"] = "canary"
		}), "deployment"), "deployment.payload.release.Strategy", release.RuleUnmapped},
		{"feature flag typo", githubDelivery(mut(dep, func(m map[string]any) {
			child(m, "deployment", "payload", "release")["feature_flags"] = []any{map[string]any{"key": "a", "varient": "on"}}
		}), "deployment"), "deployment.payload.release.feature_flags[0].varient", release.RuleUnmapped},
		{"feature flags not an array", githubDelivery(mut(dep, func(m map[string]any) {
			child(m, "deployment", "payload", "release")["feature_flags"] = "new-pricing"
		}), "deployment"), "deployment.payload.release.feature_flags", release.RuleType},
		{"release not an object", githubDelivery(mut(dep, func(m map[string]any) {
			child(m, "deployment", "payload")["release"] = "canary"
		}), "deployment"), "deployment.payload.release", release.RuleType},
		{"release percentage as string", githubDelivery(mut(dep, func(m map[string]any) {
			child(m, "deployment", "payload", "release")["rollout_percentage"] = "10"
		}), "deployment"), "deployment.payload.release.rollout_percentage", release.RuleType},
		{"bad status time", githubDelivery(mut(status, func(m map[string]any) { child(m, "deployment_status")["created_at"] = "10:00" }), "deployment_status"),
			"deployment_status.created_at", release.RuleFormat},
		{"workflow_run id object", githubDelivery(mut(dep, func(m map[string]any) { m["workflow_run"] = map[string]any{"id": []any{}} }), "deployment"),
			"workflow_run.id", release.RuleType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := src.Parse(tt.d)
			require.NoError(t, err)
			require.Len(t, events, 1)
			require.NotEmpty(t, tt.d.Warnings)
			require.Equal(t, tt.field, tt.d.Warnings[0].Field)
			require.Equal(t, tt.rule, tt.d.Warnings[0].Rule)
			requireNormalized(t, events)
		})
	}
}

func TestGitHubAuthenticate(t *testing.T) {
	src := lookupSource(t, "github")
	t.Run("documented vector", func(t *testing.T) {
		secret, body := []byte("It's a Secret to Everybody"), []byte("Hello, World!")
		const sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
		require.Equal(t, sig, SignHexHMAC(secret, body))
		require.NoError(t, src.Authenticate(newDelivery(body, "X-Hub-Signature-256", sig), secret))
	})
	secret := []byte("s3cret")
	body := readTestdata(t, "github/deployment.json")
	good := SignHexHMAC(secret, body)
	require.NoError(t, src.Authenticate(githubDelivery(body, "deployment", "X-Hub-Signature-256", good), secret))
	for name, d := range map[string]*Delivery{
		"missing":        githubDelivery(body, "deployment"),
		"wrong secret":   githubDelivery(body, "deployment", "X-Hub-Signature-256", SignHexHMAC([]byte("other"), body)),
		"tampered body":  githubDelivery(append([]byte(" "), body...), "deployment", "X-Hub-Signature-256", good),
		"sha1 signature": githubDelivery(body, "deployment", "X-Hub-Signature", "sha1=0123", "X-Hub-Signature-256", "sha1=0123"),
		"not hex":        githubDelivery(body, "deployment", "X-Hub-Signature-256", "sha256=zz"),
		"truncated":      githubDelivery(body, "deployment", "X-Hub-Signature-256", good[:len(good)-2]),
	} {
		t.Run(name, func(t *testing.T) { requireUnauthorized(t, src.Authenticate(d, secret)) })
	}
}

func FuzzGitHub(f *testing.F) {
	addFuzzSeeds(f, "github")
	f.Add([]byte("payload=%7B%22deployment%22%3A%7B%7D%7D"))
	src := lookupSource(f, "github")
	secret := []byte("fuzz-secret")
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, headers := range [][]string{
			{"X-GitHub-Event", "deployment", "X-GitHub-Delivery", "d-1", "Content-Type", "application/json",
				"X-Hub-Signature-256", SignHexHMAC(secret, body)},
			{"X-GitHub-Event", "deployment_status", "X-GitHub-Delivery", "d-2", "Content-Type", "application/json"},
			{"X-GitHub-Event", "deployment", "X-GitHub-Delivery", "d-3", "Content-Type", "application/x-www-form-urlencoded",
				"X-Hub-Signature-256", "sha256=00"},
			{"X-GitHub-Event", "deployment_status", "X-GitHub-Delivery", "d-4", "Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
			{},
		} {
			checkFuzzDelivery(t, "github", src, secret, newDelivery(body, headers...))
		}
	})
}
