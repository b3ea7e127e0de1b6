package source

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const fluxSHA = "731f7eaddfb6af01cb2173e18f0f75b0ba780ef1"

func fluxDelivery(body []byte, extra ...string) *Delivery {
	return newDelivery(body, append([]string{
		"Content-Type", "application/json",
		"Gotk-Component", "kustomize-controller",
		"User-Agent", "Go-http-client/1.1",
	}, extra...)...)
}

func fluxID(body []byte) string {
	sum := sha256.Sum256(body)
	return "flux-" + hex.EncodeToString(sum[:])[:32]
}

func TestFluxParse(t *testing.T) {
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	checkout := func(env string) map[string]string {
		return map[string]string{
			release.AttrDeploymentID:          "flux-flux-system-checkout-731f7eaddfb6",
			release.AttrServiceName:           "checkout",
			release.AttrServiceNamespace:      "shop",
			release.AttrServiceVersion:        fluxSHA,
			release.AttrDeploymentEnvironment: env,
			release.AttrVCSRevision:           fluxSHA,
			release.AttrVCSRefName:            "main",
		}
	}
	payments := map[string]string{
		release.AttrDeploymentID:          "flux-shop-payments-6.5.4",
		release.AttrServiceName:           "payments",
		release.AttrServiceVersion:        "6.5.4",
		release.AttrDeploymentEnvironment: "staging",
	}
	eu1 := release.Context{Scope: map[string]string{"k8s.cluster.name": "eu-1"}}
	us2 := release.Context{Scope: map[string]string{"k8s.cluster.name": "us-2"}}
	tests := []struct {
		file  string
		typ   release.EventType
		at    string
		attrs map[string]string
		rel   release.Context
	}{
		{"flux/kustomization_progressing.json", release.EventStarted, "2026-11-24T10:00:00Z", checkout("prod"), eu1},
		{"flux/kustomization_succeeded.json", release.EventSucceeded, "2026-11-24T10:01:12Z", checkout("prod"), eu1},
		{"flux/kustomization_healthcheck_failed.json", release.EventFailed, "2026-11-24T10:05:00Z", checkout("production"), eu1},
		{"flux/helmrelease_upgrade_succeeded.json", release.EventSucceeded, "2026-11-24T10:20:00Z", payments, us2},
		{"flux/helmrelease_upgrade_failed.json", release.EventFailed, "2026-11-24T10:22:00Z", payments, us2},
		{"flux/helmrelease_rollback_succeeded.json", release.EventRolledBack, "2026-11-24T10:23:30Z", map[string]string{
			release.AttrDeploymentID:          "flux-shop-payments-v2.8.0",
			release.AttrServiceName:           "payments-api",
			release.AttrServiceVersion:        "v2.8.0",
			release.AttrDeploymentEnvironment: "staging",
		}, release.Context{}},
	}
	src := lookupSource(t, "flux")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readTestdata(t, tt.file)
			events, err := src.Parse(fluxDelivery(body))
			require.NoError(t, err)
			requireEvents(t, []release.Event{{
				ID: fluxID(body), Type: tt.typ, Time: at(tt.at), ReceivedAt: testReceivedAt, Source: "flux",
				Attributes: tt.attrs, Release: tt.rel,
			}}, events)
			requireNormalized(t, events)
		})
	}
}

func TestFluxRevisionForms(t *testing.T) {
	src := lookupSource(t, "flux")
	base := readTestdata(t, "flux/kustomization_succeeded.json")
	for _, tt := range []struct {
		revision, version, vcsRev, vcsRef, digest string
	}{
		{"main@sha1:" + fluxSHA, fluxSHA, fluxSHA, "main", ""},
		{"refs/heads/main@sha1:" + fluxSHA, fluxSHA, fluxSHA, "main", ""},
		{"refs/tags/v1.4.2@sha1:" + fluxSHA, "v1.4.2", fluxSHA, "v1.4.2", ""},
		{"v1.4.2@sha256:0b31b1c02ff4", "v1.4.2", "", "", "sha256:0b31b1c02ff4"},
		{"latest@sha256:0b31b1c02ff4", "0b31b1c02ff4", "", "", "sha256:0b31b1c02ff4"},
		{"sha256:0b31b1c02ff4", "sha256:0b31b1c02ff4", "", "", "sha256:0b31b1c02ff4"},
		{"main/" + fluxSHA, fluxSHA, fluxSHA, "main", ""},
		{"6.5.4", "6.5.4", "", "", ""},
	} {
		t.Run(tt.revision, func(t *testing.T) {
			body := mutateJSON(t, base, func(m map[string]any) { child(m, "metadata")["revision"] = tt.revision })
			events, err := src.Parse(fluxDelivery(body))
			require.NoError(t, err)
			ev := events[0]
			require.Equal(t, tt.version, ev.Attr(release.AttrServiceVersion))
			require.Equal(t, tt.vcsRev, ev.Attr(release.AttrVCSRevision))
			require.Equal(t, tt.vcsRef, ev.Attr(release.AttrVCSRefName))
			require.Equal(t, tt.digest, ev.Attr(release.AttrOCIManifestDigest))
			require.Equal(t, "flux-flux-system-checkout-"+truncate(tt.version, 12), ev.Attr(release.AttrDeploymentID))
		})
	}
	t.Run("OCI tag, digest and the Git commit it was built from", func(t *testing.T) {
		body := mutateJSON(t, base, func(m map[string]any) {
			meta := child(m, "metadata")
			meta["revision"] = "6.1.6@sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427"
			meta["kustomize.toolkit.fluxcd.io/originRevision"] = "main@sha1:" + fluxSHA
		})
		events, err := src.Parse(fluxDelivery(body))
		require.NoError(t, err)
		ev := events[0]
		require.Equal(t, "6.1.6", ev.Attr(release.AttrServiceVersion))
		require.Equal(t, "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427", ev.Attr(release.AttrOCIManifestDigest))
		require.Equal(t, fluxSHA, ev.Attr(release.AttrVCSRevision))
		require.Equal(t, "main", ev.Attr(release.AttrVCSRefName))
		requireNormalized(t, events)
	})
	t.Run("bare key wins over prefixed", func(t *testing.T) {
		body := mutateJSON(t, base, func(m map[string]any) {
			child(m, "metadata")["kustomize.toolkit.fluxcd.io/revision"] = "other@sha1:" + fluxSHA
		})
		events, err := src.Parse(fluxDelivery(body))
		require.NoError(t, err)
		require.Equal(t, "main", events[0].Attr(release.AttrVCSRefName))
	})
	t.Run("the id is the body's digest", func(t *testing.T) {
		a, err := src.Parse(fluxDelivery(base))
		require.NoError(t, err)
		b, err := src.Parse(fluxDelivery(append([]byte{}, base...)))
		require.NoError(t, err)
		require.Equal(t, a[0].ID, b[0].ID)
		c, err := src.Parse(fluxDelivery(readTestdata(t, "flux/kustomization_progressing.json")))
		require.NoError(t, err)
		require.NotEqual(t, a[0].ID, c[0].ID)
		require.Equal(t, a[0].DeploymentID(), c[0].DeploymentID())
	})
}

func TestFluxIgnored(t *testing.T) {
	src := lookupSource(t, "flux")
	for _, file := range []string{"flux/gitrepository_info.json", "flux/kustomization_dependency_not_ready.json"} {
		_, err := src.Parse(fluxDelivery(readTestdata(t, file)))
		requireIgnored(t, err)
	}
	body := mutateJSON(t, readTestdata(t, "flux/helmrelease_upgrade_failed.json"), func(m map[string]any) {
		m["reason"] = "TestFailed" // severity error, but not a reason we map
	})
	_, err := src.Parse(fluxDelivery(body))
	requireIgnored(t, err)
}

func TestFluxMalformed(t *testing.T) {
	src := lookupSource(t, "flux")
	base := readTestdata(t, "flux/kustomization_progressing.json")
	mut := func(fn func(m map[string]any)) *Delivery { return fluxDelivery(mutateJSON(t, base, fn)) }
	tests := []struct {
		name  string
		d     *Delivery
		field string
		rule  string
	}{
		{"not JSON", fluxDelivery([]byte("{")), "body", release.RuleSyntax},
		{"no involvedObject", mut(func(m map[string]any) { delete(m, "involvedObject") }), "involvedObject", release.RuleRequired},
		{"no kind", mut(func(m map[string]any) { delete(child(m, "involvedObject"), "kind") }), "involvedObject.kind", release.RuleRequired},
		{"kind number", mut(func(m map[string]any) { child(m, "involvedObject")["kind"] = 1 }), "involvedObject.kind", release.RuleType},
		{"no name", mut(func(m map[string]any) { delete(child(m, "involvedObject"), "name") }), "involvedObject.name", release.RuleRequired},
		{"no reason", mut(func(m map[string]any) { delete(m, "reason") }), "reason", release.RuleRequired},
		{"no environment", mut(func(m map[string]any) { delete(child(m, "metadata"), "env") }), "metadata.environment", release.RuleRequired},
		{"no metadata", mut(func(m map[string]any) { delete(m, "metadata") }), "metadata.revision", release.RuleRequired},
		{"metadata not an object", mut(func(m map[string]any) { m["metadata"] = []any{} }), "metadata", release.RuleType},
		{"the only environment unreadable", mut(func(m map[string]any) { child(m, "metadata")["env"] = map[string]any{} }), "metadata.environment", release.RuleRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := src.Parse(tt.d)
			requireFieldError(t, err, tt.field, tt.rule)
		})
	}
}

func TestFluxOptionalFieldsAreDropped(t *testing.T) {
	src := lookupSource(t, "flux")
	base := readTestdata(t, "flux/kustomization_progressing.json")
	for _, tt := range []struct {
		name, field, rule string
		fn                func(m map[string]any)
	}{
		{"bad timestamp", "timestamp", release.RuleFormat, func(m map[string]any) { m["timestamp"] = "Tue, 24 Nov 2026 10:00:00 GMT" }},
		{"metadata value object", "metadata.team", release.RuleType, func(m map[string]any) { child(m, "metadata")["team"] = map[string]any{} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := fluxDelivery(mutateJSON(t, base, tt.fn))
			events, err := src.Parse(d)
			require.NoError(t, err)
			require.Len(t, events, 1)
			require.Len(t, d.Warnings, 1)
			require.Equal(t, tt.field, d.Warnings[0].Field)
			require.Equal(t, tt.rule, d.Warnings[0].Rule)
			requireNormalized(t, events)
		})
	}
}

func TestFluxAuthenticate(t *testing.T) {
	src := lookupSource(t, "flux")
	secret := []byte("flux-token")
	body := readTestdata(t, "flux/kustomization_succeeded.json")
	require.NoError(t, src.Authenticate(fluxDelivery(body, "X-Signature", SignHexHMAC(secret, body)), secret))
	require.NoError(t, src.Authenticate(fluxDelivery(body, "Authorization", "Bearer flux-token"), secret))
	requireUnauthorized(t, src.Authenticate(fluxDelivery(body), secret))
	requireUnauthorized(t, src.Authenticate(fluxDelivery(body, "X-Signature", SignHexHMAC([]byte("x"), body)), secret))
	requireUnauthorized(t, src.Authenticate(fluxDelivery(body[:len(body)-2], "X-Signature", SignHexHMAC(secret, body)), secret))
	requireUnauthorized(t, src.Authenticate(fluxDelivery(body, "Authorization", "Bearer flux-tokeN"), secret))
	requireUnauthorized(t, src.Authenticate(fluxDelivery(body, "Authorization", "flux-token"), secret))
	// A wrong signature is not rescued by a right token.
	requireUnauthorized(t, src.Authenticate(fluxDelivery(body, "X-Signature", "sha256=00", "Authorization", "Bearer flux-token"), secret))
}

func FuzzFlux(f *testing.F) {
	addFuzzSeeds(f, "flux")
	src := lookupSource(f, "flux")
	secret := []byte("fuzz-secret")
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, headers := range [][]string{
			{"Content-Type", "application/json", "X-Signature", SignHexHMAC(secret, body)},
			{"Content-Type", "application/json", "Authorization", "Bearer fuzz-secret"},
			{},
		} {
			checkFuzzDelivery(t, "flux", src, secret, newDelivery(body, headers...))
		}
	})
}
