package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

// sign is the X-Hub-Signature-256 / X-Signature-256 value of body.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// TestSecrets checks per-source secrets: unsigned or wrongly signed
// deliveries get 401 and store nothing; correctly signed ones get 202.
func TestSecrets(t *testing.T) {
	bin := e2etest.Binary(t)
	p := newPorts(t)
	startWithConfig(t, bin, "secrets.yaml", p)
	total := func() int { return listReleases(t, p.releasesURL()).Total }

	github := samplePayload(t, "github/deployment.json")
	ghHeaders := func(delivery string, extra ...string) []string {
		return append([]string{"X-GitHub-Event", "deployment", "X-GitHub-Delivery", delivery}, extra...)
	}
	ghURL := p.events("/v1/github")

	t.Run("github unsigned", func(t *testing.T) {
		requireRejected(t, e2etest.PostJSON(t, ghURL, github, ghHeaders("e2e-sec-1")...), 401, "authentication", "signature", "missing")
		require.Equal(t, 0, total(), "a rejected delivery stores nothing")
		require.Equal(t, 404, e2etest.Get(t, p.releaseURL("github-1873264519")).Status)
	})
	t.Run("github signed with another secret", func(t *testing.T) {
		requireRejected(t, e2etest.PostJSON(t, ghURL, github, ghHeaders("e2e-sec-2", "X-Hub-Signature-256", sign("wrong", github))...),
			401, "authentication", "signature", "does not match")
		require.Equal(t, 0, total())
	})
	t.Run("github signature over other bytes", func(t *testing.T) {
		sig := sign("s3cret", github)
		tampered := append(append([]byte(nil), github...), '\n')
		requireRejected(t, e2etest.PostJSON(t, ghURL, tampered, ghHeaders("e2e-sec-3", "X-Hub-Signature-256", sig)...),
			401, "authentication", "signature", "does not match")
		require.Equal(t, 0, total())
	})
	t.Run("github signed", func(t *testing.T) {
		requireReply(t, e2etest.PostJSON(t, ghURL, github, ghHeaders("e2e-sec-4", "X-Hub-Signature-256", sign("s3cret", github))...),
			202, accepted("e2e-sec-4", "github-1873264519", "in_progress"))
		require.Equal(t, 1, total())
		require.Equal(t, "in_progress", getRelease(t, p.releaseURL("github-1873264519")).Status)
	})

	nativeURL := p.events("/v1/events")
	t.Run("native without a token", func(t *testing.T) {
		body := nativeEvent("e2e-sec-native-1", "started", "search", "v1.0.0", "production")
		requireRejected(t, e2etest.PostJSON(t, nativeURL, body), 401, "authentication", "signature", "no Authorization")
		requireRejected(t, e2etest.PostJSON(t, nativeURL, body, "Authorization", "Bearer not-tok"), 401, "authentication", "signature", "does not match")
		requireRejected(t, e2etest.PostJSON(t, nativeURL, body, "Authorization", "Basic dG9rOnRvaw=="), 401, "authentication", "signature", "not a Bearer token")
		require.Equal(t, 1, total())
		require.Equal(t, 404, e2etest.Get(t, p.releaseURL("e2e-sec-native-1")).Status)
	})
	t.Run("native with the token", func(t *testing.T) {
		body := nativeEvent("e2e-sec-native-1", "started", "search", "v1.0.0", "production")
		requireReply(t, e2etest.PostJSON(t, nativeURL, body, "Authorization", "Bearer tok"), 202,
			accepted("e2e-sec-native-1", "e2e-sec-native-1", "in_progress"))
		require.Equal(t, 2, total())
	})
	t.Run("native signed with X-Signature-256", func(t *testing.T) {
		body := nativeEvent("e2e-sec-native-2", "succeeded", "search", "v1.0.1", "production")
		requireReply(t, e2etest.PostJSON(t, nativeURL, body, "X-Signature-256", sign("tok", body)), 202,
			accepted("e2e-sec-native-2", "e2e-sec-native-2", "succeeded"))
		require.Equal(t, 3, total())
		// The succeeded v1.0.1 superseded the v1.0.0 rollout.
		require.Equal(t, "superseded", getRelease(t, p.releaseURL("e2e-sec-native-1")).Status)
	})
	t.Run("sources without a secret stay open", func(t *testing.T) {
		requireReply(t, e2etest.PostJSON(t, p.events("/v1/argocd"), samplePayload(t, "argocd/deployed.json")), 202,
			accepted("argocd-checkout-prod-eu-1-9f2c1e7a1b3c-succeeded-healthy-"+strings.ReplaceAll(shiftedDate(), "-", "")+"T100231Z",
				"argocd-checkout-prod-eu-1-9f2c1e7a1b3c", "succeeded"))
		require.Equal(t, 4, total())
	})
}

// TestSetOverridesEndpoint starts the binary on a config file and moves the
// receiver with --set: it listens where --set says, not where the file does.
func TestSetOverridesEndpoint(t *testing.T) {
	bin := e2etest.Binary(t)
	p := newPorts(t)
	fileAddr := p.EventsAddr
	p2 := p
	p2.EventsAddr = e2etest.FreeAddr(t)
	dir := t.TempDir()
	cfg := e2etest.RenderConfig(t, dir, testdataPath("minimal.yaml"), p) // receiver on fileAddr
	proc := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Env: isolatedEnv(dir), Args: []string{
		"--config", cfg, "--set=receivers::releasemetadata::endpoint=" + p2.EventsAddr,
	}})
	proc.RequireReady(startTimeout, p.releasesURL())
	proc.RequireListening(startTimeout, p2.EventsAddr)
	require.False(t, e2etest.Listening(fileAddr), "the receiver still listens on %s, the address in the file", fileAddr)

	body := nativeEvent("e2e-set-1", "started", "search", "v2.0.0", "dev")
	requireReply(t, e2etest.PostJSON(t, p2.events("/v1/events"), body), 202, accepted("e2e-set-1", "e2e-set-1", "in_progress"))
	r := getRelease(t, p.releaseURL("e2e-set-1"))
	requireIdentity(t, r, identity{"search", "", "v2.0.0", "development"})
	require.NoError(t, proc.Stop())
}
