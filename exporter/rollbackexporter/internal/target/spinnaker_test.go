package target

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const spinnakerWant = `{
  "type": "manual",
  "parameters": {
    "decision_id": "dec-deploy-4711-rollback",
    "action": "rollback",
    "service": "checkout",
    "environment": "production",
    "version": "v1.4.2",
    "previous_version": "v1.4.1",
    "deployment_id": "deploy-4711",
    "confidence": "0.995",
    "rationale": "shop/checkout v1.4.2 fails 5.2% of requests vs 1.1% for v1.4.1 over 40s."
  }
}`

func spinnakerConfig(s *server) func(*SpinnakerConfig) {
	return func(c *SpinnakerConfig) {
		c.GateURL = s.URL + "/gate/"
		c.Application = "{service.name}"
		c.Pipeline = "rollback {deployment.environment.name}"
		c.Headers = configopaque.MapList{{Name: "X-Spinnaker-Token", Value: "gate-s3cret"}, {Name: "X-Team", Value: "payments"}}
	}
}

// spinnakerAct acts through the target's own clients, built from its
// settings as the exporter builds them (the headers are the client's).
func spinnakerAct(ctx context.Context, t *testing.T, s *server, dryRun bool) (string, error) {
	tg, env := makeClientTarget(t, "spinnaker", spinnakerConfig(s), nil, dryRun)
	return tg.Act(ctx, env, testAction())
}

func TestSpinnakerTriggersThePipeline(t *testing.T) {
	s := newServer(t, 202, `{"eventId":"9b1b1e2a","ref":"/pipelines/01JDEADBEEF"}`)
	summary, err := spinnakerAct(context.Background(), t, s, false)
	require.NoError(t, err)
	assert.Equal(t, "triggered Spinnaker pipeline rollback production of application checkout (/pipelines/01JDEADBEEF)", summary)
	got := s.got()
	require.Len(t, got, 1)
	r := got[0]
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, "/gate/pipelines/checkout/rollback production", r.Path)
	assert.Equal(t, "", r.Query)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "gate-s3cret", r.Header.Get("X-Spinnaker-Token"))
	assert.Equal(t, "payments", r.Header.Get("X-Team"))
	assert.JSONEq(t, spinnakerWant, string(r.Body))

	// Without a previous version the parameter is there, empty.
	a := testAction()
	delete(a.Decision.Release, "previous_version")
	a.Decision.Action = release.ActionPause
	assert.Equal(t, "", SpinnakerParameters(a)["previous_version"])
	assert.Equal(t, "pause", SpinnakerParameters(a)["action"])
	assert.Len(t, SpinnakerParameters(a), 9)
}

func TestSpinnakerErrors(t *testing.T) {
	s := newServer(t, 400, `{"error":"Bad Request","message":"Pipeline not found: rollback production"}`)
	_, err := spinnakerAct(context.Background(), t, s, false)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "Pipeline not found")

	s = newServer(t, 503, `{"error":"Service Unavailable"}`)
	_, err = spinnakerAct(context.Background(), t, s, false)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent))

	s = newServer(t, 202, `{}`)
	tg := makeTarget(t, "spinnaker", func(c *SpinnakerConfig) {
		c.GateURL = s.URL
		c.Application = "{nothing.here}x"
		c.Pipeline = "{service.name}"
	})
	_, err = tg.Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), `application resolves to "{nothing.here}x": the decision does not name it`)
	assert.Empty(t, s.got())
	tg = makeTarget(t, "spinnaker", func(c *SpinnakerConfig) { c.GateURL = s.URL; c.Application = "shop"; c.Pipeline = "{service.name}" })
	summary, err := tg.Act(context.Background(), testEnv(false), testAction())
	require.NoError(t, err)
	assert.Equal(t, "triggered Spinnaker pipeline checkout of application shop", summary, "no ref in the answer")
}

func TestSpinnakerDryRunRecordsTheTrigger(t *testing.T) {
	s := newServer(t, 202, `{}`)
	ctx, rec := recCtx()
	_, err := spinnakerAct(ctx, t, s, true)
	require.NoError(t, err)
	assert.Empty(t, s.got())
	require.Len(t, rec.Requests, 1)
	r := rec.Requests[0]
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, s.URL+"/gate/pipelines/checkout/rollback%20production", r.URL)
	assert.Equal(t, map[string]string{"Content-Type": "application/json", "X-Spinnaker-Token": "<redacted>", "X-Team": "<redacted>"}, r.Headers,
		"configured headers may carry Gate's credentials")
	assert.JSONEq(t, spinnakerWant, r.Body)
}

func TestSpinnakerValidate(t *testing.T) {
	assert.EqualError(t, validateErr("spinnaker", func(*SpinnakerConfig) {}), "gate_url: required")
	assert.EqualError(t, validateErr("spinnaker", func(c *SpinnakerConfig) { c.GateURL = "gate:8084" }), "gate_url: must be an http or https URL")
	assert.EqualError(t, validateErr("spinnaker", func(c *SpinnakerConfig) { c.GateURL = "http://gate:8084" }), "application: required")
	assert.EqualError(t, validateErr("spinnaker", func(c *SpinnakerConfig) { c.GateURL = "http://gate:8084"; c.Application = "a" }), "pipeline: required")
}
