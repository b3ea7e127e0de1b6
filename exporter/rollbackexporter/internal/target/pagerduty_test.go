package target

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const pagerDutyWant = `{
  "routing_key": "R0UTINGKEY0000000000000000000000",
  "event_action": "trigger",
  "dedup_key": "otelcol-release/deploy-4711",
  "payload": {
    "summary": "Rollback: shop/checkout v1.4.2 in production: regression (endogenous), 99.5% confidence; error_rate 5.2% for v1.4.2 vs 1.1% for v1.4.1 (4.7×), 2013 vs 18211 samples",
    "source": "shop/checkout (production)",
    "severity": "critical",
    "timestamp": "2026-11-24T10:01:00Z",
    "component": "checkout",
    "group": "production",
    "class": "error_rate",
    "custom_details": {
      "decision_id": "dec-deploy-4711-rollback",
      "action": "rollback",
      "verdict": "regression",
      "cause": "endogenous",
      "confidence": 0.995,
      "dry_run": false,
      "decided_at": "2026-11-24T10:01:00Z",
      "rationale": "shop/checkout v1.4.2 fails 5.2% of requests vs 1.1% for v1.4.1 over 40s.",
      "release": {
        "deployment.id": "deploy-4711", "service.name": "checkout", "service.namespace": "shop",
        "deployment.environment.name": "production", "service.version": "v1.4.2", "previous_version": "v1.4.1"
      },
      "evidence": ["error_rate 5.2% for v1.4.2 vs 1.1% for v1.4.1 (4.7×), 2013 vs 18211 samples, 99.5% confidence"],
      "operator_page": "http://localhost:8089/releases/deploy-4711",
      "traces": ["http://jaeger:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736"]
    }
  },
  "client": "otelcol-release",
  "client_url": "http://localhost:8089/releases/deploy-4711",
  "links": [
    {"href": "http://localhost:8089/releases/deploy-4711", "text": "Release deploy-4711 on the operator page"},
    {"href": "http://jaeger:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736", "text": "Trace 4bf92f35 (error_rate)"}
  ]
}`

func pagerDutyTarget(t *testing.T, s *server, severity string) Target {
	return makeTarget(t, "pagerduty", func(c *PagerDutyConfig) {
		c.RoutingKey = "R0UTINGKEY0000000000000000000000"
		c.Endpoint = s.URL + "/"
		c.SeverityOverride = severity
	})
}

func TestPagerDutyTriggersOneAlertPerRelease(t *testing.T) {
	s := newServer(t, 202, `{"status":"success","message":"Event processed","dedup_key":"otelcol-release/deploy-4711"}`)
	summary, err := pagerDutyTarget(t, s, "").Act(context.Background(), testEnv(false), testAction())
	require.NoError(t, err)
	assert.Equal(t, "triggered a critical PagerDuty alert for shop/checkout v1.4.2 in production (dedup key otelcol-release/deploy-4711)", summary)
	got := s.got()
	require.Len(t, got, 1)
	r := got[0]
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, "/v2/enqueue", r.Path)
	assert.Equal(t, "", r.Query)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Empty(t, r.Header.Get("Authorization"), "the routing key is in the body")
	assert.JSONEq(t, pagerDutyWant, string(r.Body))

	// A later decision about the same release lands on the same alert.
	a := testAction()
	a.Decision.DecisionID, a.Decision.Action = "dec-deploy-4711-notify", release.ActionNotify
	_, err = pagerDutyTarget(t, s, "").Act(context.Background(), testEnv(false), a)
	require.NoError(t, err)
	var ev pagerDutyEvent
	require.NoError(t, jsonUnmarshal(s.got()[1].Body, &ev))
	assert.Equal(t, "otelcol-release/deploy-4711", ev.DedupKey)
	assert.Equal(t, "warning", ev.Payload.Severity)
}

func TestPagerDutySeverity(t *testing.T) {
	for action, want := range map[release.Action]string{
		release.ActionRollback: "critical", release.ActionFlagOff: "error", release.ActionPause: "error",
		release.ActionNotify: "warning", release.ActionHold: "info", release.ActionNone: "info",
	} {
		assert.Equal(t, want, pagerDutySeverity(action), action)
	}
	s := newServer(t, 202, `{}`)
	_, err := pagerDutyTarget(t, s, "info").Act(context.Background(), testEnv(false), testAction())
	require.NoError(t, err)
	var ev pagerDutyEvent
	require.NoError(t, jsonUnmarshal(s.got()[0].Body, &ev))
	assert.Equal(t, "info", ev.Payload.Severity, "severity_override wins")
}

func TestPagerDutySummaryFitsTheLimit(t *testing.T) {
	s := newServer(t, 202, `{}`)
	a := testAction()
	a.Decision.Release["service.version"] = strings.Repeat("v", 2000)
	a.Decision.DryRun = true
	_, err := pagerDutyTarget(t, s, "").Act(context.Background(), testEnv(false), a)
	require.NoError(t, err)
	var ev pagerDutyEvent
	require.NoError(t, jsonUnmarshal(s.got()[0].Body, &ev))
	assert.Equal(t, 1024, utf8.RuneCountInString(ev.Payload.Summary))
	assert.True(t, strings.HasPrefix(ev.Payload.Summary, "[dry run] Rollback: shop/checkout vvv"))
	assert.True(t, strings.HasSuffix(ev.Payload.Summary, "…"))
}

func TestPagerDutyErrors(t *testing.T) {
	s := newServer(t, 400, `{"status":"invalid event","message":"Event object is invalid","errors":["'routing_key' is invalid"]}`)
	_, err := pagerDutyTarget(t, s, "").Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "Event object is invalid")

	s = newServer(t, 429, `{"status":"throttle event"}`)
	_, err = pagerDutyTarget(t, s, "").Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent), "throttled is retried")

	s = newServer(t, 503, `unavailable`)
	_, err = pagerDutyTarget(t, s, "").Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent))
}

func TestPagerDutyDryRunRecordsTheEventWithoutTheKey(t *testing.T) {
	s := newServer(t, 202, `{}`)
	ctx, rec := recCtx()
	_, err := pagerDutyTarget(t, s, "").Act(ctx, testEnv(true), testAction())
	require.NoError(t, err)
	assert.Empty(t, s.got())
	require.Len(t, rec.Requests, 1)
	r := rec.Requests[0]
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, s.URL+"/v2/enqueue", r.URL)
	assert.Equal(t, map[string]string{"Content-Type": "application/json"}, r.Headers)
	assert.JSONEq(t, strings.Replace(pagerDutyWant, "R0UTINGKEY0000000000000000000000", "<redacted>", 1), r.Body,
		"the routing key is a credential")
}

func TestPagerDutyValidate(t *testing.T) {
	assert.EqualError(t, validateErr("pagerduty", func(*PagerDutyConfig) {}), "routing_key: required")
	assert.EqualError(t, validateErr("pagerduty", func(c *PagerDutyConfig) { c.RoutingKey = "k"; c.Endpoint = "" }), "endpoint: required")
	assert.EqualError(t, validateErr("pagerduty", func(c *PagerDutyConfig) { c.RoutingKey = "k"; c.Endpoint = "events.pagerduty.com" }),
		"endpoint: must be an http or https URL")
	assert.EqualError(t, validateErr("pagerduty", func(c *PagerDutyConfig) { c.RoutingKey = "k"; c.SeverityOverride = "high" }),
		`severity_override: "high" is not a PagerDuty severity; one of critical, error, warning, info`)
	f, _ := Lookup("pagerduty")
	assert.Equal(t, "https://events.pagerduty.com", f.NewConfig().(*PagerDutyConfig).Endpoint)
}
