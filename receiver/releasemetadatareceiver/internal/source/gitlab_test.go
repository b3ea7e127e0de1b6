package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const (
	gitlabEventUUID = "d1c5a3b0-7f3e-4c52-9a8e-1b2f3c4d5e6f"
	gitlabSHA       = "279484c09fbe69ededfced8c1bb6e6d24616b468"
)

func gitlabDelivery(body []byte, extra ...string) *Delivery {
	return newDelivery(body, append([]string{
		"Content-Type", "application/json",
		"X-Gitlab-Event", "Deployment Hook",
		"X-Gitlab-Event-UUID", gitlabEventUUID,
		"X-Gitlab-Instance", "https://gitlab.acme.example",
		"User-Agent", "GitLab/17.6.0",
	}, extra...)...)
}

func TestGitLabParse(t *testing.T) {
	cet := time.FixedZone("", 3600)
	attrs := func() map[string]string {
		return map[string]string{
			release.AttrDeploymentID:          "gitlab-15",
			release.AttrServiceName:           "checkout",
			release.AttrServiceVersion:        "279484c0",
			release.AttrDeploymentEnvironment: "production",
			release.AttrVCSRevision:           gitlabSHA,
			release.AttrVCSRepositoryURL:      "https://gitlab.acme.example/shop/backend/checkout",
			release.AttrCICDPipelineRunID:     "796",
		}
	}
	tests := []struct {
		file string
		typ  release.EventType
		at   time.Time
	}{
		{"gitlab/deployment_running.json", release.EventStarted, time.Date(2026, 11, 24, 11, 0, 0, 0, cet)},
		{"gitlab/deployment_success.json", release.EventSucceeded, time.Date(2026, 11, 24, 11, 12, 41, 0, cet)},
		{"gitlab/deployment_failed.json", release.EventFailed, time.Date(2026, 11, 24, 11, 7, 13, 0, cet)},
		{"gitlab/deployment_canceled.json", release.EventFailed, time.Date(2026, 11, 24, 11, 3, 0, 0, cet)},
	}
	src := lookupSource(t, "gitlab")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			events, err := src.Parse(gitlabDelivery(readTestdata(t, tt.file)))
			require.NoError(t, err)
			requireEvents(t, []release.Event{{
				ID: gitlabEventUUID, Type: tt.typ, Time: tt.at, ReceivedAt: testReceivedAt,
				Source: "gitlab", Attributes: attrs(),
			}}, events)
			requireNormalized(t, events)
		})
	}
}

func TestGitLabIDAndFallbacks(t *testing.T) {
	src := lookupSource(t, "gitlab")
	body := readTestdata(t, "gitlab/deployment_success.json")

	events, err := src.Parse(gitlabDelivery(body, "Idempotency-Key", "idem-1"))
	require.NoError(t, err)
	require.Equal(t, "idem-1", events[0].ID)

	events, err = src.Parse(newDelivery(body, "Content-Type", "application/json"))
	require.NoError(t, err)
	require.Equal(t, "gitlab-15-success", events[0].ID)
	require.Equal(t, "gitlab-15", events[0].Attributes[release.AttrDeploymentID])

	t.Run("commit_url without a full SHA", func(t *testing.T) {
		body := mutateJSON(t, body, func(m map[string]any) { m["commit_url"] = "https://gitlab.acme.example/x/-/commit/279484c0" })
		events, err := src.Parse(gitlabDelivery(body))
		require.NoError(t, err)
		require.Equal(t, "279484c0", events[0].Attributes[release.AttrVCSRevision])
	})
	t.Run("RFC 3339 status_changed_at", func(t *testing.T) {
		body := mutateJSON(t, body, func(m map[string]any) { m["status_changed_at"] = "2026-11-24T10:12:41Z" })
		events, err := src.Parse(gitlabDelivery(body))
		require.NoError(t, err)
		require.True(t, events[0].Time.Equal(time.Date(2026, 11, 24, 10, 12, 41, 0, time.UTC)))
	})
	t.Run("top-level project", func(t *testing.T) {
		body := mutateJSON(t, body, func(m map[string]any) { child(m, "project")["path_with_namespace"] = "checkout" })
		events, err := src.Parse(gitlabDelivery(body))
		require.NoError(t, err)
		require.Equal(t, "checkout", events[0].Attributes[release.AttrServiceName])
	})
}

func TestGitLabIgnored(t *testing.T) {
	src := lookupSource(t, "gitlab")
	pipeline := readTestdata(t, "gitlab/pipeline.json")
	d := gitlabDelivery(pipeline)
	d.Header.Set("X-Gitlab-Event", "Pipeline Hook")
	_, err := src.Parse(d)
	requireIgnored(t, err)

	_, err = src.Parse(newDelivery(pipeline)) // no header: told by object_kind
	requireIgnored(t, err)

	for _, status := range []string{"created", "blocked", "skipped"} {
		body := mutateJSON(t, readTestdata(t, "gitlab/deployment_success.json"), func(m map[string]any) { m["status"] = status })
		_, err := src.Parse(gitlabDelivery(body))
		requireIgnored(t, err)
	}
}

func TestGitLabMalformed(t *testing.T) {
	src := lookupSource(t, "gitlab")
	base := readTestdata(t, "gitlab/deployment_success.json")
	mut := func(fn func(m map[string]any)) *Delivery { return gitlabDelivery(mutateJSON(t, base, fn)) }
	tests := []struct {
		name  string
		d     *Delivery
		field string
		rule  string
	}{
		{"not JSON", gitlabDelivery([]byte("object_kind=deployment")), "body", release.RuleSyntax},
		{"array", gitlabDelivery([]byte(`[{"object_kind":"deployment"}]`)), "body", release.RuleType},
		{"no object_kind", mut(func(m map[string]any) { delete(m, "object_kind") }), "object_kind", release.RuleRequired},
		{"no status", mut(func(m map[string]any) { delete(m, "status") }), "status", release.RuleRequired},
		{"status number", mut(func(m map[string]any) { m["status"] = 1 }), "status", release.RuleType},
		{"no deployment_id", mut(func(m map[string]any) { delete(m, "deployment_id") }), "deployment_id", release.RuleRequired},
		{"no project", mut(func(m map[string]any) { delete(m, "project") }), "project.path_with_namespace", release.RuleRequired},
		{"project string", mut(func(m map[string]any) { m["project"] = "shop/checkout" }), "project", release.RuleType},
		{"no short_sha", mut(func(m map[string]any) { delete(m, "short_sha") }), "short_sha", release.RuleRequired},
		{"no environment", mut(func(m map[string]any) { m["environment"] = "" }), "environment", release.RuleRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := src.Parse(tt.d)
			requireFieldError(t, err, tt.field, tt.rule)
		})
	}
}

// An optional field that cannot be read is dropped with a warning; the
// deploy is kept.
func TestGitLabOptionalFieldsAreDropped(t *testing.T) {
	src := lookupSource(t, "gitlab")
	base := readTestdata(t, "gitlab/deployment_success.json")
	mut := func(fn func(m map[string]any)) *Delivery { return gitlabDelivery(mutateJSON(t, base, fn)) }
	tests := []struct {
		name  string
		d     *Delivery
		field string
		rule  string
		attr  string
	}{
		{"bad status_changed_at", mut(func(m map[string]any) { m["status_changed_at"] = "28/04/2021" }), "status_changed_at", release.RuleFormat, ""},
		{"deployable_id object", mut(func(m map[string]any) { m["deployable_id"] = map[string]any{} }), "deployable_id", release.RuleType, release.AttrCICDPipelineRunID},
		{"commit_url number", mut(func(m map[string]any) { m["commit_url"] = 7 }), "commit_url", release.RuleType, ""},
		{"project.web_url array", mut(func(m map[string]any) { child(m, "project")["web_url"] = []any{} }), "project.web_url", release.RuleType, release.AttrVCSRepositoryURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := src.Parse(tt.d)
			require.NoError(t, err)
			require.Len(t, events, 1)
			require.Len(t, tt.d.Warnings, 1)
			require.Equal(t, tt.field, tt.d.Warnings[0].Field)
			require.Equal(t, tt.rule, tt.d.Warnings[0].Rule)
			if tt.attr != "" {
				require.NotContains(t, events[0].Attributes, tt.attr)
			}
			requireNormalized(t, events)
		})
	}
}

func TestGitLabTimeLayouts(t *testing.T) {
	src := lookupSource(t, "gitlab")
	base := readTestdata(t, "gitlab/deployment_success.json")
	want := time.Date(2021, 4, 28, 19, 49, 12, 0, time.UTC)
	for _, s := range []string{"2021-04-28 19:49:12 UTC", "2021-04-28 21:49:12 +0200", "2021-04-28T19:49:12Z"} {
		d := gitlabDelivery(mutateJSON(t, base, func(m map[string]any) { m["status_changed_at"] = s }))
		events, err := src.Parse(d)
		require.NoError(t, err, s)
		require.Empty(t, d.Warnings, s)
		require.True(t, want.Equal(events[0].Time), "%s parsed as %s", s, events[0].Time)
	}
}

// standardWebhookSignature computes "v1,<base64 HMAC-SHA256(key,
// "{id}.{timestamp}.{body}")>" as the Standard Webhooks spec describes.
func standardWebhookSignature(key []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "." + string(body)))
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestGitLabAuthenticate(t *testing.T) {
	src := lookupSource(t, "gitlab")
	body := readTestdata(t, "gitlab/deployment_success.json")

	t.Run("token", func(t *testing.T) {
		secret := []byte("glpat-hook-token")
		require.NoError(t, src.Authenticate(gitlabDelivery(body, "X-Gitlab-Token", "glpat-hook-token"), secret))
		requireUnauthorized(t, src.Authenticate(gitlabDelivery(body, "X-Gitlab-Token", "glpat-hook-tokeN"), secret))
		requireUnauthorized(t, src.Authenticate(gitlabDelivery(body, "X-Gitlab-Token", "glpat-hook-token "), secret))
		requireUnauthorized(t, src.Authenticate(gitlabDelivery(body), secret))
	})

	t.Run("standard webhooks", func(t *testing.T) {
		key := []byte("a 32-byte signing key for gitlab")
		secret := []byte("whsec_" + base64.StdEncoding.EncodeToString(key))
		const id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
		ts := strconv.FormatInt(testReceivedAt.Add(-30*time.Second).Unix(), 10)
		sig := standardWebhookSignature(key, id, ts, body)
		signed := func(b []byte, sig, ts string) *Delivery {
			return gitlabDelivery(b, "Webhook-Id", id, "Webhook-Timestamp", ts, "Webhook-Signature", sig)
		}
		require.NoError(t, src.Authenticate(signed(body, sig, ts), secret))
		// Several signatures (key rotation): any match wins.
		other := standardWebhookSignature([]byte("old key"), id, ts, body)
		require.NoError(t, src.Authenticate(signed(body, other+" "+sig, ts), secret))
		// A secret without the whsec_ prefix is used as raw key bytes.
		require.NoError(t, src.Authenticate(signed(body, standardWebhookSignature([]byte("raw-secret"), id, ts, body), ts), []byte("raw-secret")))

		requireUnauthorized(t, src.Authenticate(signed(append(body, ' '), sig, ts), secret))
		requireUnauthorized(t, src.Authenticate(signed(body, other, ts), secret))
		requireUnauthorized(t, src.Authenticate(signed(body, "v1a,"+sig[3:], ts), secret))
		requireUnauthorized(t, src.Authenticate(signed(body, "v1,!!!", ts), secret))
		old := strconv.FormatInt(testReceivedAt.Add(-6*time.Minute).Unix(), 10)
		requireUnauthorized(t, src.Authenticate(signed(body, standardWebhookSignature(key, id, old, body), old), secret))
		future := strconv.FormatInt(testReceivedAt.Add(6*time.Minute).Unix(), 10)
		requireUnauthorized(t, src.Authenticate(signed(body, standardWebhookSignature(key, id, future, body), future), secret))
		requireUnauthorized(t, src.Authenticate(signed(body, sig, "9223372036854775807"), secret))
		requireUnauthorized(t, src.Authenticate(signed(body, sig, "soon"), secret))
		requireUnauthorized(t, src.Authenticate(signed(body, sig, "-9223372036854775808"), secret))
		requireUnauthorized(t, src.Authenticate(gitlabDelivery(body, "Webhook-Timestamp", ts, "Webhook-Signature", sig), secret))
		requireUnauthorized(t, src.Authenticate(signed(body, sig, ts), []byte("whsec_not base64!")))
		// A wrong token does not block a valid signature.
		d := signed(body, sig, ts)
		d.Header.Set("X-Gitlab-Token", "wrong")
		require.NoError(t, src.Authenticate(d, secret))
	})
}

func FuzzGitLab(f *testing.F) {
	addFuzzSeeds(f, "gitlab")
	src := lookupSource(f, "gitlab")
	key := []byte("fuzz-key")
	secret := []byte("whsec_" + base64.StdEncoding.EncodeToString(key))
	ts := strconv.FormatInt(testReceivedAt.Unix(), 10)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, headers := range [][]string{
			{"X-Gitlab-Event", "Deployment Hook", "X-Gitlab-Token", string(secret), "X-Gitlab-Event-UUID", "u-1"},
			{"Webhook-Id", "msg_1", "Webhook-Timestamp", ts, "Webhook-Signature", standardWebhookSignature(key, "msg_1", ts, body)},
			{"Webhook-Id", "msg_1", "Webhook-Timestamp", ts, "Webhook-Signature", "v1,AAAA v2,x v1"},
			{"X-Gitlab-Event", "Pipeline Hook"},
			{},
		} {
			checkFuzzDelivery(t, "gitlab", src, secret, newDelivery(body, headers...))
		}
	})
}
