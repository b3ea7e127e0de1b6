package target

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// makeTarget builds a registered target from its default configuration,
// changed by set, after checking that it validates.
func makeTarget[C any](t *testing.T, typ string, set func(*C)) Target {
	t.Helper()
	f, ok := Lookup(typ)
	require.True(t, ok, typ)
	cfg := f.NewConfig().(*C)
	set(cfg)
	require.NoError(t, any(cfg).(interface{ Validate() error }).Validate())
	tg, err := f.New(cfg)
	require.NoError(t, err)
	return tg
}

// recCtx is a context with a fresh recorder.
func recCtx() (context.Context, *Recorder) {
	rec := &Recorder{}
	return WithRecorder(context.Background(), rec), rec
}

// validateErr runs a configuration's Validate.
func validateErr[C any](typ string, set func(*C)) error {
	f, _ := Lookup(typ)
	cfg := f.NewConfig().(*C)
	set(cfg)
	return any(cfg).(interface{ Validate() error }).Validate()
}

const slackHookPath = "/services/T0001/B0002/XXXXsecretXXXX"

const slackWant = `{
  "text": "Rollback: shop/checkout v1.4.2 in production (regression, endogenous, 99.5% confidence): shop/checkout v1.4.2 fails 5.2% of requests vs 1.1% for v1.4.1 over 40s.",
  "channel": "#deploys-production",
  "blocks": [
    {"type": "header", "text": {"type": "plain_text", "text": "Rollback: shop/checkout v1.4.2 in production"}},
    {"type": "section", "fields": [
      {"type": "mrkdwn", "text": "*Service*\nshop/checkout"},
      {"type": "mrkdwn", "text": "*Version*\nv1.4.2 (previous v1.4.1)"},
      {"type": "mrkdwn", "text": "*Environment*\nproduction"},
      {"type": "mrkdwn", "text": "*Action*\nrollback"},
      {"type": "mrkdwn", "text": "*Verdict*\nregression"},
      {"type": "mrkdwn", "text": "*Cause*\nendogenous"},
      {"type": "mrkdwn", "text": "*Confidence*\n99.5%"}
    ]},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Why:* shop/checkout v1.4.2 fails 5.2% of requests vs 1.1% for v1.4.1 over 40s."}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Top evidence:* error_rate 5.2% for v1.4.2 vs 1.1% for v1.4.1 (4.7×), 2013 vs 18211 samples"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "<http://localhost:8089/releases/deploy-4711|Release deploy-4711 on the operator page> · <http://jaeger:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736|Trace 4bf92f35 (error_rate)>"}},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "decision dec-deploy-4711-rollback · deployment deploy-4711 · decided 2026-11-24 10:01:00 UTC"}]}
  ]
}`

func slackTarget(t *testing.T, s *server, channel string) Target {
	return makeTarget(t, "slack", func(c *SlackConfig) {
		c.WebhookURL = configopaque.String(s.URL + slackHookPath)
		c.Channel = channel
	})
}

func TestSlackPostsAMessageAPersonCanActOn(t *testing.T) {
	s := newServer(t, 200, "ok")
	summary, err := slackTarget(t, s, "#deploys-{deployment.environment.name}").Act(context.Background(), testEnv(false), testAction())
	require.NoError(t, err)
	assert.Equal(t, "posted the rollback decision on shop/checkout to Slack channel #deploys-production", summary)
	got := s.got()
	require.Len(t, got, 1)
	r := got[0]
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, slackHookPath, r.Path)
	assert.Equal(t, "", r.Query)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Empty(t, r.Header.Get("Authorization"), "the URL is the credential")
	assert.JSONEq(t, slackWant, string(r.Body))
}

func TestSlackLinksAndEscaping(t *testing.T) {
	s := newServer(t, 200, "ok")
	env := testEnv(false)
	env.OperatorURL = ""
	// Only traces with a link are linked, at most three, top evidence first,
	// each once.
	env.TraceURL = func(id string) string {
		if id == "nolink" {
			return ""
		}
		return "https://tempo/" + id
	}
	a := testAction()
	a.Decision.Rationale = "p95 <= 300ms & errors > 1%"
	a.Decision.Evidence[0].Exemplars = []string{"nolink", "aaaaaaaaaa01", "aaaaaaaaaa01", "bbbbbbbbbb02"}
	a.Decision.Evidence = append(a.Decision.Evidence, release.Evidence{Signal: "latency_p95", Exemplars: []string{"cccccccccc03", "dddddddddd04"}})
	_, err := slackTarget(t, s, "").Act(context.Background(), env, a)
	require.NoError(t, err)
	var msg struct {
		Text    string  `json:"text"`
		Channel *string `json:"channel"`
		Blocks  []struct {
			Type string `json:"type"`
			Text *struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	}
	require.NoError(t, jsonUnmarshal(s.got()[0].Body, &msg))
	assert.Nil(t, msg.Channel, "no channel key without a channel")
	assert.Equal(t, "*Why:* p95 &lt;= 300ms &amp; errors &gt; 1%", msg.Blocks[2].Text.Text)
	assert.Equal(t, "<https://tempo/aaaaaaaaaa01|Trace aaaaaaaa (error_rate)> · <https://tempo/bbbbbbbbbb02|Trace bbbbbbbb (error_rate)> · <https://tempo/cccccccccc03|Trace cccccccc (latency_p95)>",
		msg.Blocks[4].Text.Text)
	assert.True(t, strings.HasSuffix(msg.Text, ": p95 &lt;= 300ms &amp; errors &gt; 1%"))

	// Without operator page and trace links, there is no links section.
	env.TraceURL = func(string) string { return "" }
	s2 := newServer(t, 200, "ok")
	_, err = slackTarget(t, s2, "").Act(context.Background(), env, a)
	require.NoError(t, err)
	require.NoError(t, jsonUnmarshal(s2.got()[0].Body, &msg))
	var types []string
	for _, b := range msg.Blocks {
		types = append(types, b.Type)
	}
	assert.Equal(t, []string{"header", "section", "section", "section", "context"}, types)
}

func TestSlackErrorsKeepTheWebhookSecret(t *testing.T) {
	s := newServer(t, 404, "channel_not_found")
	_, err := slackTarget(t, s, "").Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "channel_not_found", "Slack's answer is quoted")
	assert.NotContains(t, err.Error(), "secret", "the webhook URL is a credential")
	assert.Contains(t, err.Error(), "/<redacted>")

	s = newServer(t, 500, "internal_error")
	_, err = slackTarget(t, s, "").Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent), "a 500 is retried")
	assert.NotContains(t, err.Error(), "secret")

	s = newServer(t)
	s.Close()
	_, err = slackTarget(t, s, "").Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent), "refused is retried")
	assert.NotContains(t, err.Error(), "secret")
}

func TestSlackDryRunRecordsTheMessage(t *testing.T) {
	s := newServer(t, 200, "ok")
	ctx, rec := recCtx()
	_, err := slackTarget(t, s, "#deploys-{deployment.environment.name}").Act(ctx, testEnv(true), testAction())
	require.NoError(t, err)
	assert.Empty(t, s.got(), "nothing is posted in dry run")
	require.Len(t, rec.Requests, 1)
	r := rec.Requests[0]
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, s.URL+"/<redacted>", r.URL, "the webhook URL is a credential")
	assert.Equal(t, map[string]string{"Content-Type": "application/json"}, r.Headers)
	assert.JSONEq(t, slackWant, r.Body)
}

func TestSlackValidate(t *testing.T) {
	assert.EqualError(t, validateErr("slack", func(*SlackConfig) {}), "webhook_url: required")
	assert.EqualError(t, validateErr("slack", func(c *SlackConfig) { c.WebhookURL = "hooks.slack.com/x" }), "webhook_url: must be an http or https URL")
	assert.NoError(t, validateErr("slack", func(c *SlackConfig) { c.WebhookURL = "https://hooks.slack.com/services/T/B/X" }))
}

func TestMessageHelpers(t *testing.T) {
	assert.Equal(t, "abc", msgEllipsize("abc", 3))
	assert.Equal(t, "ab…", msgEllipsize("abcd", 3))
	assert.Equal(t, "éé…", msgEllipsize("éééé", 3), "characters, not bytes")
	assert.Equal(t, "99.5%", msgConfidence(0.995))
	assert.Equal(t, "99.99%", msgConfidence(0.999999), "never a certainty it does not have")
	assert.Equal(t, "100%", msgConfidence(1))
	assert.Equal(t, "0.05%", msgSignalValue("error_rate", 0.0005))
	assert.Equal(t, "1.234", msgSignalValue("kpi:cart_value", 1.234))
	a := testAction()
	delete(a.Decision.Release, "previous_version")
	assert.Equal(t, "error_rate 5.2% for v1.4.2 vs 1.1% for the control (4.7×), 2013 vs 18211 samples", msgEvidenceLine(a.Decision, a.Decision.Evidence[0]))
	for action, want := range map[release.Action]string{
		release.ActionRollback: "Rollback", release.ActionPause: "Pause", release.ActionFlagOff: "Flags off",
		release.ActionHold: "Hold (too little traffic)", release.ActionNotify: "Regression",
	} {
		a.Decision.Action = action
		assert.Equal(t, want+": shop/checkout v1.4.2 in production", msgHeadline(a))
	}
	a.Decision.Action, a.Decision.Verdict = release.ActionNone, release.VerdictHealthy
	assert.Equal(t, "Healthy: shop/checkout v1.4.2 in production", msgHeadline(a))
	a.Decision.Release["deployment.id"] = "a b/c"
	assert.Equal(t, "http://localhost:8089/releases/a%20b%2Fc", msgOperatorLink(testEnv(false), a))
}
