package source

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const (
	ctStructured = "application/cloudevents+json; charset=UTF-8"
	ctBatch      = "application/cloudevents-batch+json"
)

func cdeventsTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// cdeventsDeployed is the event of testdata/cdevents/structured_deployed.json.
func cdeventsDeployed() release.Event {
	return release.Event{
		ID: "271069a8-fc18-44f1-b38f-9d70a1695819", Type: release.EventSucceeded,
		Time: cdeventsTime("2026-11-24T10:00:00.315384Z"), ReceivedAt: testReceivedAt, Source: "cdevents",
		Attributes: map[string]string{
			release.AttrDeploymentID:          "deploy-4711",
			release.AttrServiceName:           "checkout",
			release.AttrServiceNamespace:      "shop",
			release.AttrServiceVersion:        "v1.4.2",
			release.AttrDeploymentEnvironment: "prod",
			release.AttrVCSRevision:           "9f2c1e7a1b3c4d5e6f708192a3b4c5d6e7f80912",
			release.AttrVCSRepositoryURL:      "https://github.com/acme/checkout",
			release.AttrCICDPipelineRunID:     "8812",
		},
		Release: release.Context{
			PreviousVersion: "v1.4.1", Strategy: release.StrategyCanary, RolloutPercentage: ptr(10.0),
			FeatureFlags: []release.FeatureFlag{{Key: "new-pricing", Variant: "on"}},
			Intent:       "move cart pricing to the new engine", Risk: "high", Owner: "team-payments",
			Scope: map[string]string{"k8s.cluster.name": "eu-1"},
		},
	}
}

// cdeventsRolledBack is the event of testdata/cdevents/plain_rolledback.json.
func cdeventsRolledBack() release.Event {
	return release.Event{
		ID: "0f1bd40c-19c5-4a83-9a3e-3b70f38a9b61", Type: release.EventRolledBack,
		Time: cdeventsTime("2026-11-24T10:07:30Z"), ReceivedAt: testReceivedAt, Source: "cdevents",
		Attributes: map[string]string{
			release.AttrDeploymentID:          "deploy-4711",
			release.AttrServiceName:           "checkout",
			release.AttrServiceVersion:        "v1.4.1",
			release.AttrDeploymentEnvironment: "prod",
		},
		RestoresVersion: true,
	}
}

func binaryHeaders(id, typ string) []string {
	return []string{
		"Content-Type", "application/json",
		"Ce-Specversion", "1.0",
		"Ce-Id", id,
		"Ce-Type", typ,
		"Ce-Source", "%2Ftekton%2Facme%2Fprod-pipelines",
		"Ce-Subject", "services%2Fcheckout",
		"Ce-Time", "2026-11-24T11:30:00Z",
	}
}

func TestCDEventsParse(t *testing.T) {
	upgraded := release.Event{
		ID: "ce-5e9f6c7a", Type: release.EventSucceeded, Time: cdeventsTime("2026-11-24T11:30:00Z"),
		ReceivedAt: testReceivedAt, Source: "cdevents",
		Attributes: map[string]string{
			release.AttrDeploymentID:          "5e9f6c7a-8a40-4c41-a9a8-0e0a0b6bd1a4",
			release.AttrServiceName:           "checkout",
			release.AttrServiceVersion:        "v1.4.3",
			release.AttrDeploymentEnvironment: "staging",
		},
	}
	removed := release.Event{
		ID: "a3d1e1a2-2f3c-4b6e-9a8c-7d5e4f3b2a10", Type: release.EventRemoved, Time: cdeventsTime("2026-11-24T12:00:00Z"),
		ReceivedAt: testReceivedAt, Source: "cdevents",
		Attributes: map[string]string{
			release.AttrDeploymentID:          "a3d1e1a2-2f3c-4b6e-9a8c-7d5e4f3b2a10",
			release.AttrServiceName:           "legacy-cart",
			release.AttrServiceVersion:        "v0.9.7",
			release.AttrDeploymentEnvironment: "prod",
		},
	}
	tests := []struct {
		name string
		d    *Delivery
		want []release.Event
	}{
		{"structured", newDelivery(readTestdata(t, "cdevents/structured_deployed.json"), "Content-Type", ctStructured),
			[]release.Event{cdeventsDeployed()}},
		{"structured posted as application/json", newDelivery(readTestdata(t, "cdevents/structured_deployed.json"), "Content-Type", "application/json"),
			[]release.Event{cdeventsDeployed()}},
		{"binary", newDelivery(readTestdata(t, "cdevents/binary_upgraded.json"), binaryHeaders("ce-5e9f6c7a", "dev.cdevents.service.upgraded.0.3.0")...),
			[]release.Event{upgraded}},
		{"plain rolledback", newDelivery(readTestdata(t, "cdevents/plain_rolledback.json"), "Content-Type", "application/json"),
			[]release.Event{cdeventsRolledBack()}},
		{"plain removed", newDelivery(readTestdata(t, "cdevents/plain_removed.json"), "Content-Type", "application/json"),
			[]release.Event{removed}},
		{"batch skips the pipelinerun", newDelivery(readTestdata(t, "cdevents/batch.json"), "Content-Type", ctBatch),
			[]release.Event{cdeventsDeployed(), cdeventsRolledBack()}},
	}
	src := lookupSource(t, "cdevents")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := src.Parse(tt.d)
			require.NoError(t, err)
			requireEvents(t, tt.want, events)
			requireNormalized(t, events)
		})
	}
}

func TestCDEventsStructuredDataBase64(t *testing.T) {
	data := readTestdata(t, "cdevents/binary_upgraded.json")
	body, err := json.Marshal(map[string]any{
		"specversion": "1.0", "id": "ce-b64", "source": "/tekton", "type": "dev.cdevents.service.upgraded.0.3.0",
		"datacontenttype": "application/json", "data_base64": base64.StdEncoding.EncodeToString(data),
	})
	require.NoError(t, err)
	events, err := lookupSource(t, "cdevents").Parse(newDelivery(body, "Content-Type", ctStructured))
	require.NoError(t, err)
	require.Equal(t, "ce-b64", events[0].ID)
	require.Equal(t, "v1.4.3", events[0].Attributes[release.AttrServiceVersion])
}

func TestCDEventsIgnored(t *testing.T) {
	src := lookupSource(t, "cdevents")
	pipelinerun := readTestdata(t, "cdevents/pipelinerun_finished.json")
	_, err := src.Parse(newDelivery(pipelinerun, "Content-Type", "application/json"))
	requireIgnored(t, err)
	_, err = src.Parse(newDelivery(pipelinerun, binaryHeaders("x", "dev.cdevents.pipelinerun.finished.0.3.0")...))
	requireIgnored(t, err)
	batch, err := json.Marshal([]any{map[string]any{"specversion": "1.0", "id": "1", "source": "/s",
		"type": "dev.cdevents.pipelinerun.finished.0.3.0", "data": json.RawMessage(pipelinerun)}})
	require.NoError(t, err)
	_, err = src.Parse(newDelivery(batch, "Content-Type", ctBatch))
	requireIgnored(t, err)
}

// Optional members that cannot be read are dropped with a warning naming
// them; the deploy is kept.
func TestCDEventsOptionalFieldsAreDropped(t *testing.T) {
	src := lookupSource(t, "cdevents")
	plain := readTestdata(t, "cdevents/plain_rolledback.json")
	for _, tt := range []struct {
		name, field, rule string
		fn                func(m map[string]any)
	}{
		{"bad timestamp", "context.timestamp", release.RuleFormat, func(m map[string]any) { child(m, "context")["timestamp"] = "2026-11-24 10:00" }},
		{"customData release typo", "customData.release.previous", release.RuleUnmapped, func(m map[string]any) {
			m["customData"] = map[string]any{"release": map[string]any{"previous": "v1"}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newDelivery(mutateJSON(t, plain, tt.fn), "Content-Type", "application/json")
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

func TestCDEventsMalformed(t *testing.T) {
	src := lookupSource(t, "cdevents")
	plain := readTestdata(t, "cdevents/plain_rolledback.json")
	structured := readTestdata(t, "cdevents/structured_deployed.json")
	asJSON := func(fn func(m map[string]any)) *Delivery {
		return newDelivery(mutateJSON(t, plain, fn), "Content-Type", "application/json")
	}
	asBinary := func(fn func(m map[string]any)) *Delivery {
		return newDelivery(mutateJSON(t, plain, fn), binaryHeaders("ce-1", "dev.cdevents.service.rolledback.0.3.0")...)
	}
	asStructured := func(fn func(m map[string]any)) *Delivery {
		return newDelivery(mutateJSON(t, structured, fn), "Content-Type", ctStructured)
	}
	tests := []struct {
		name  string
		d     *Delivery
		field string
		rule  string
	}{
		{"not a CDEvents type", asJSON(func(m map[string]any) { child(m, "context")["type"] = "com.example.deployed" }),
			"context.type", release.RuleEnum},
		{"no type", asJSON(func(m map[string]any) { delete(child(m, "context"), "type") }), "context.type", release.RuleRequired},
		{"no context", asJSON(func(m map[string]any) { delete(m, "context") }), "context", release.RuleRequired},
		{"no id anywhere", asJSON(func(m map[string]any) { delete(child(m, "context"), "id") }), "context.id", release.RuleRequired},
		{"purl without version", asBinary(func(m map[string]any) {
			child(m, "subject", "content")["artifactId"] = "pkg:oci/checkout?repository_url=ghcr.io%2Facme%2Fcheckout"
		}), "subject.content.artifactId", release.RuleFormat},
		{"artifact is not a purl", asBinary(func(m map[string]any) {
			child(m, "subject", "content")["artifactId"] = "ghcr.io/acme/checkout:v1.4.2"
		}), "subject.content.artifactId", release.RuleFormat},
		{"no artifactId", asBinary(func(m map[string]any) { delete(child(m, "subject", "content"), "artifactId") }),
			"subject.content.artifactId", release.RuleRequired},
		{"no environment", asJSON(func(m map[string]any) { delete(child(m, "subject", "content"), "environment") }),
			"subject.content.environment.id", release.RuleRequired},
		{"no subject id", asJSON(func(m map[string]any) { child(m, "subject")["id"] = "/" }), "subject.id", release.RuleRequired},
		{"no subject", asJSON(func(m map[string]any) { delete(m, "subject") }), "subject", release.RuleRequired},
		{"customData attribute not a scalar", asJSON(func(m map[string]any) {
			m["customData"] = map[string]any{"attributes": map[string]any{"service.namespace": []any{"a"}}}
		}), "customData.attributes.service.namespace", release.RuleType},
		{"structured: purl without version", asStructured(func(m map[string]any) {
			child(m, "data", "subject", "content")["artifactId"] = "pkg:oci/checkout"
		}), "data.subject.content.artifactId", release.RuleFormat},
		{"structured: not a CDEvents type", asStructured(func(m map[string]any) {
			child(m, "data", "context")["type"] = "io.argoproj.sync"
		}), "data.context.type", release.RuleEnum},
		{"structured: no data", asStructured(func(m map[string]any) { delete(m, "data") }), "data", release.RuleRequired},
		{"structured: data a string", asStructured(func(m map[string]any) { m["data"] = "x" }), "data", release.RuleType},
		{"structured: no specversion", asStructured(func(m map[string]any) { delete(m, "specversion") }), "specversion", release.RuleRequired},
		{"structured: bad data_base64", asStructured(func(m map[string]any) { delete(m, "data"); m["data_base64"] = "%%" }),
			"data_base64", release.RuleFormat},
		{"batch: not an array", newDelivery(structured, "Content-Type", ctBatch), "body", release.RuleType},
		{"batch: empty", newDelivery([]byte(" [ ] "), "Content-Type", ctBatch), "body", release.RuleRequired},
		{"batch: broken", newDelivery([]byte(`[{"specversion":`), "Content-Type", ctBatch), "body", release.RuleSyntax},
		{"batch: one bad element", newDelivery([]byte("["+string(structured)+","+string(mutateJSON(t, structured, func(m map[string]any) {
			child(m, "data", "subject", "content")["artifactId"] = "pkg:oci/checkout"
		}))+"]"), "Content-Type", ctBatch), "[1].data.subject.content.artifactId", release.RuleFormat},
		{"binary: body not JSON", newDelivery([]byte("deployed"), binaryHeaders("1", "dev.cdevents.service.deployed.0.3.0")...),
			"body", release.RuleSyntax},
		{"binary: ce-id badly encoded", newDelivery(plain, binaryHeaders("%zz", "dev.cdevents.service.deployed.0.3.0")...),
			"header ce-id", release.RuleFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := src.Parse(tt.d)
			requireFieldError(t, err, tt.field, tt.rule)
		})
	}
}

func TestPurlVersion(t *testing.T) {
	for _, tt := range []struct {
		purl, want string
	}{
		{"pkg:golang/github.com/acme/checkout@v1.4.2", "v1.4.2"},
		{"pkg:oci/checkout@sha256%3A0b31b1c0", "sha256:0b31b1c0"},
		{"pkg:oci/checkout@sha256%3A0b31b1c0?repository_url=ghcr.io%2Facme%2Fcheckout&tag=v1.4.2", "v1.4.2"},
		{"pkg:oci/checkout@sha256%3A0b31b1c0?tag=", "sha256:0b31b1c0"},
		{"pkg:docker/acme/checkout@1.4.2?arch=amd64", "1.4.2"},
		{"pkg:npm/%40acme/checkout@2.0.0-rc.1", "2.0.0-rc.1"},
		{"pkg:maven/org.acme/checkout@1.4.2#src/main", "1.4.2"},
		{"pkg:generic/checkout@1.4.2%2Bbuild.7", "1.4.2+build.7"},
		{"pkg:oci/checkout?tag=v1.4.2", "v1.4.2"},
	} {
		got, err := purlVersion(tt.purl, "f")
		require.NoError(t, err, tt.purl)
		require.Equal(t, tt.want, got, tt.purl)
	}
	for _, bad := range []string{
		"", "checkout@1.4.2", "pkg:oci/checkout", "pkg:oci/checkout@", "pkg:npm/@acme/checkout",
		"pkg:checkout@1.0", "pkg:oci/checkout@1%zz", "pkg:oci/checkout@1?tag=%zz",
	} {
		_, err := purlVersion(bad, "f")
		requireFieldError(t, err, "f", release.RuleFormat)
	}
}

func TestCDEventsAuthenticate(t *testing.T) {
	src := lookupSource(t, "cdevents")
	secret := []byte("cd-secret")
	body := readTestdata(t, "cdevents/structured_deployed.json")
	require.NoError(t, src.Authenticate(newDelivery(body, "Authorization", "Bearer cd-secret"), secret))
	require.NoError(t, src.Authenticate(newDelivery(body, "X-Signature-256", SignHexHMAC(secret, body)), secret))
	requireUnauthorized(t, src.Authenticate(newDelivery(body), secret))
	requireUnauthorized(t, src.Authenticate(newDelivery(body, "Authorization", "Bearer nope"), secret))
	requireUnauthorized(t, src.Authenticate(newDelivery(body, "Authorization", "Basic Y2Qtc2VjcmV0"), secret))
	requireUnauthorized(t, src.Authenticate(newDelivery(body[1:], "X-Signature-256", SignHexHMAC(secret, body)), secret))
}

func FuzzCDEvents(f *testing.F) {
	addFuzzSeeds(f, "cdevents")
	src := lookupSource(f, "cdevents")
	secret := []byte("fuzz-secret")
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, headers := range [][]string{
			{"Content-Type", ctStructured, "Authorization", "Bearer fuzz-secret"},
			{"Content-Type", ctBatch, "X-Signature-256", SignHexHMAC(secret, body)},
			binaryHeaders("fuzz-1", "dev.cdevents.service.deployed.0.3.0"),
			{"Content-Type", "application/json"},
			{},
		} {
			checkFuzzDelivery(t, "cdevents", src, secret, newDelivery(body, headers...))
		}
	})
}

func TestCDEventsEnvironmentAndDigest(t *testing.T) {
	src := lookupSource(t, "cdevents")
	base := readTestdata(t, "cdevents/plain_removed.json")
	deployed := mutateJSON(t, base, func(m map[string]any) {
		child(m, "context")["type"] = "dev.cdevents.service.deployed.0.3.0"
		delete(m, "customData")
		child(m, "subject", "content")["artifactId"] = "pkg:oci/checkout@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427"
	})
	for _, tt := range []struct{ id, env, warning string }{
		{"production", "production", ""},
		{"/environments/staging", "staging", ""},
		{"https://cd.example.com/environments/staging", "staging", ""},
		{"https://kubernetes.default.svc", "kubernetes.default.svc", "subject.content.environment.id"},
	} {
		t.Run(tt.id, func(t *testing.T) {
			d := newDelivery(mutateJSON(t, deployed, func(m map[string]any) {
				child(m, "subject", "content", "environment")["id"] = tt.id
			}), "Content-Type", "application/json")
			events, err := src.Parse(d)
			require.NoError(t, err)
			ev := events[0]
			require.Equal(t, release.EventSucceeded, ev.Type)
			require.Equal(t, tt.env, ev.Attr(release.AttrDeploymentEnvironment))
			require.Equal(t, "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427", ev.Attr(release.AttrServiceVersion))
			require.Equal(t, ev.Attr(release.AttrServiceVersion), ev.Attr(release.AttrOCIManifestDigest))
			if tt.warning == "" {
				require.Empty(t, d.Warnings)
				return
			}
			require.Len(t, d.Warnings, 1)
			require.Equal(t, tt.warning, d.Warnings[0].Field)
		})
	}
	t.Run("an environment name wins over a cluster URL", func(t *testing.T) {
		d := newDelivery(mutateJSON(t, deployed, func(m map[string]any) {
			child(m, "subject", "content")["environment"] = map[string]any{"id": "https://kubernetes.default.svc", "name": "staging"}
		}), "Content-Type", "application/json")
		events, err := src.Parse(d)
		require.NoError(t, err)
		require.Equal(t, "staging", events[0].Attr(release.AttrDeploymentEnvironment))
		require.Empty(t, d.Warnings)
	})
	t.Run("customData names the environment of a cluster URL", func(t *testing.T) {
		d := newDelivery(mutateJSON(t, deployed, func(m map[string]any) {
			child(m, "subject", "content", "environment")["id"] = "https://kubernetes.default.svc"
			m["customData"] = map[string]any{"attributes": map[string]any{"deployment.environment.name": "production"}}
		}), "Content-Type", "application/json")
		events, err := src.Parse(d)
		require.NoError(t, err)
		require.Equal(t, "production", events[0].Attr(release.AttrDeploymentEnvironment))
		require.Empty(t, d.Warnings)
	})
}
