package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

// takeReceivedAt removes release.received_at from a record's attributes
// after checking it is an RFC 3339 time within [from, to].
func takeReceivedAt(t *testing.T, attrs map[string]any, from, to time.Time) {
	t.Helper()
	raw, ok := attrs["release.received_at"].(string)
	require.Truef(t, ok, "release.received_at missing or not a string: %v", attrs)
	at, err := time.Parse(time.RFC3339Nano, raw)
	require.NoError(t, err)
	require.Falsef(t, at.Before(from) || at.After(to), "release.received_at %s outside the test's [%s, %s]", at, from, to)
	delete(attrs, "release.received_at")
}

// TestOTLPSink wires releasemetadata to an otlp_http exporter and checks
// the release records a backend receives: deployments and annotations.
func TestOTLPSink(t *testing.T) {
	bin := e2etest.Binary(t)
	sink := e2etest.NewOTLPSink(t)
	p := newPorts(t)
	p.SinkURL = sink.Endpoint()
	proc, _ := startWithConfig(t, bin, "sink.yaml", p)

	from := time.Now().UTC()
	native := `{"id":"deploy-e2e-sink","type":"succeeded",
	  "attributes":{"service.name":"payments","service.namespace":"shop","service.version":"v3.1.0",
	    "deployment.environment.name":"stg","vcs.ref.head.revision":"abcdef1","cicd.pipeline.run.id":"77"},
	  "release":{"strategy":"blue-green","risk":"low","owner":"team-payments","intent":"e2e: to the sink"}}`
	requireReply(t, e2etest.PostJSON(t, p.events("/v1/events"), []byte(native)), 202,
		accepted("deploy-e2e-sink", "deploy-e2e-sink", "succeeded"))
	requireReply(t, e2etest.PostJSON(t, p.events("/v1/github"), samplePayload(t, "github/deployment.json"),
		"X-GitHub-Event", "deployment", "X-GitHub-Delivery", "e2e-sink-gh-1"), 202,
		accepted("e2e-sink-gh-1", "github-1873264519", "in_progress"))
	to := time.Now().UTC()

	byDeployment := func(id string) func(e2etest.Record) bool {
		return func(r e2etest.Record) bool {
			return r.EventName == "release.deployment" && r.Attributes["deployment.id"] == id
		}
	}

	t.Run("native deployment record", func(t *testing.T) {
		r := sink.WaitForRecord(t, waitTimeout, "release.deployment record for deploy-e2e-sink", byDeployment("deploy-e2e-sink"))
		assert.Equal(t, map[string]any{
			"service.name": "payments", "service.namespace": "shop", "service.version": "v3.1.0",
			"deployment.environment.name": "staging",
		}, r.Resource)
		takeReceivedAt(t, r.Attributes, from, to)
		assert.Equal(t, map[string]any{
			"deployment.id":              "deploy-e2e-sink",
			"vcs.ref.head.revision":      "abcdef1",
			"cicd.pipeline.run.id":       "77",
			"release.event.type":         "succeeded",
			"release.event.id":           "deploy-e2e-sink",
			"release.source":             "native",
			"release.status":             "succeeded",
			"deployment.status":          "succeeded",
			"release.strategy":           "blue_green",
			"release.rollout.percentage": 100.0,
			"release.intent":             "e2e: to the sink",
			"release.risk":               "low",
			"release.owner":              "team-payments",
		}, r.Attributes)
		assert.Equal(t, "shop/payments v3.1.0 rolled out in staging, blue_green at 100%, low risk, owner team-payments: e2e: to the sink", r.Body)
		assert.Equal(t, "INFO", r.SeverityText)
		assert.Equal(t, int32(9), r.SeverityNumber)
		assert.Equal(t, "github.com/otelcol-release/otelcol-release/receiver/releasemetadatareceiver", r.Scope)
	})

	t.Run("github deployment record", func(t *testing.T) {
		r := sink.WaitForRecord(t, waitTimeout, "release.deployment record for github-1873264519", byDeployment("github-1873264519"))
		assert.Equal(t, map[string]any{
			"service.name": "checkout", "service.namespace": "shop", "service.version": "v1.4.2",
			"deployment.environment.name": "production", "k8s.cluster.name": "eu-1",
		}, r.Resource)
		takeReceivedAt(t, r.Attributes, from, to)
		assert.Equal(t, map[string]any{
			"deployment.id":               "github-1873264519",
			"vcs.ref.head.name":           "v1.4.2",
			"vcs.ref.head.revision":       "9f2c1e7a1b3c4d5e6f708192a3b4c5d6e7f80912",
			"vcs.repository.url.full":     "https://github.com/acme/checkout",
			"release.event.type":          "started",
			"release.event.id":            "e2e-sink-gh-1",
			"release.source":              "github",
			"release.status":              "in_progress",
			"release.previous_version":    "v1.4.1",
			"release.strategy":            "canary",
			"release.rollout.percentage":  10.0,
			"release.intent":              "move cart pricing to the new engine",
			"release.risk":                "high",
			"release.owner":               "team-payments",
			"release.feature_flags":       []any{"new-pricing=on"},
			"feature_flag.key":            "new-pricing",
			"feature_flag.result.variant": "on",
		}, r.Attributes)
		assert.Equal(t, "shop/checkout v1.4.2 started rolling out in production (k8s.cluster.name=eu-1), canary at 10%, replacing v1.4.1, high risk, owner team-payments: move cart pricing to the new engine", r.Body)
		assert.Equal(t, shiftedDate()+"T10:00:00Z", r.Timestamp.UTC().Format(time.RFC3339), "the record is timestamped with the deployment's created_at")
	})

	t.Run("annotation record", func(t *testing.T) {
		body := `{"label":"false_alarm","text":"canary noise from a load test","link":"https://runbooks.acme.example/42","author":"e2e"}`
		resp := e2etest.PostJSON(t, p.releaseURL("github-1873264519")+"/annotations", []byte(body))
		require.Equalf(t, 201, resp.Status, "answer: %s", resp.Body)
		ann := resp.Map(t)
		assert.Equal(t, "github-1873264519", ann["release_id"])
		assert.Equal(t, "false_alarm", ann["label"])
		assert.Equal(t, "canary noise from a load test", ann["text"])
		assert.True(t, strings.HasPrefix(ann["id"].(string), "ann-"), "annotation id %v", ann["id"])

		r := sink.WaitForRecord(t, waitTimeout, "release.annotation record", func(r e2etest.Record) bool {
			return r.EventName == "release.annotation"
		})
		assert.Equal(t, map[string]any{
			"deployment.id":             "github-1873264519",
			"release.annotation.label":  "false_alarm",
			"release.annotation.link":   "https://runbooks.acme.example/42",
			"release.annotation.author": "e2e",
		}, r.Attributes)
		assert.Equal(t, "false_alarm on shop/checkout v1.4.2 in production (k8s.cluster.name=eu-1): canary noise from a load test", r.Body)
		assert.Equal(t, "v1.4.2", r.Resource["service.version"])

		rel := getRelease(t, p.releaseURL("github-1873264519"))
		require.Len(t, rel.Annotations, 1)
		assert.Equal(t, ann["id"], rel.Annotations[0]["id"])

		// Annotating a release that does not exist: 404, no record.
		resp = e2etest.PostJSON(t, p.releaseURL("no-such-release")+"/annotations", []byte(body))
		require.Equalf(t, 404, resp.Status, "answer: %s", resp.Body)
	})

	// Exactly the three records, nothing the sink refused.
	time.Sleep(300 * time.Millisecond)
	var names []string
	for _, r := range sink.Records() {
		names = append(names, r.EventName)
	}
	assert.ElementsMatch(t, []string{"release.deployment", "release.deployment", "release.annotation"}, names)
	assert.Empty(t, sink.Errors())
	require.NoError(t, proc.Stop(), "graceful shutdown on SIGTERM")
}
