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

func TestLaunchDarklyTurnsTheReleaseFlagsOff(t *testing.T) {
	s := newServer(t, 200, `{"key":"new-pricing"}`)
	tg := flagTarget(t, "launchdarkly", func(c *LaunchDarklyConfig) {
		c.Endpoint = s.URL
		c.Token = "api-0123"
		c.ProjectKey = "{service.namespace}"
	})
	summary, err := tg.Act(context.Background(), testEnv(false), flagOffAction())
	require.NoError(t, err)
	assert.Equal(t, "turned off new-pricing in LaunchDarkly environment production (project shop)", summary)
	got := s.got()
	require.Len(t, got, 1)
	r := got[0]
	assert.Equal(t, "PATCH", r.Method)
	assert.Equal(t, "/api/v2/flags/shop/new-pricing", r.Path)
	assert.Equal(t, "application/json; domain-model=launchdarkly.semanticpatch", r.Header.Get("Content-Type"))
	assert.Equal(t, []string{"application/json; domain-model=launchdarkly.semanticpatch"}, r.Header.Values("Content-Type"))
	assert.Equal(t, "api-0123", r.Header.Get("Authorization"), "the token as it is, no Bearer")
	assert.Equal(t, `{"environmentKey":"production","comment":"otelcol-release decision dec-deploy-4711-rollback: `+
		`shop/checkout v1.4.2 fails 5.2% of requests vs 1.1% for v1.4.1 over 40s.","instructions":[{"kind":"turnFlagOff"}]}`,
		string(r.Body))
}

func TestLaunchDarklyDefaultsAndCommentLimit(t *testing.T) {
	f, _ := Lookup("launchdarkly")
	assert.Equal(t, []release.Action{release.ActionFlagOff}, f.Actions)
	def := f.NewConfig().(*LaunchDarklyConfig)
	assert.Equal(t, "https://app.launchdarkly.com", def.Endpoint)
	assert.Equal(t, "{deployment.environment.name}", def.Environment)
	assert.EqualError(t, def.Validate(), "token: required")
	def.Token = "x"
	assert.EqualError(t, def.Validate(), "project_key: required")

	s := newServer(t)
	tg := flagTarget(t, "launchdarkly", func(c *LaunchDarklyConfig) {
		c.Endpoint, c.Token, c.ProjectKey, c.Environment = s.URL, "t", "web", "prod-{k8s.cluster.name}"
	})
	a := flagOffAction()
	a.Decision.Rationale = strings.Repeat("é", 400)
	_, err := tg.Act(context.Background(), testEnv(false), a)
	require.NoError(t, err)
	var body struct {
		EnvironmentKey string `json:"environmentKey"`
		Comment        string `json:"comment"`
	}
	require.NoError(t, jsonUnmarshal(s.got()[0].Body, &body))
	assert.Equal(t, "prod-{k8s.cluster.name}", body.EnvironmentKey, "an unknown placeholder stays as it is")
	assert.LessOrEqual(t, len(body.Comment), 500)
	assert.True(t, utf8.ValidString(body.Comment))
	assert.True(t, strings.HasPrefix(body.Comment, "otelcol-release decision dec-deploy-4711-rollback: éé"))
	assert.True(t, strings.HasSuffix(body.Comment, "..."))
}

func TestLaunchDarklyErrorsAndDryRun(t *testing.T) {
	s := newServer(t, 400, `{"code":"invalid_request","message":"Unknown environment key production"}`)
	tg := flagTarget(t, "launchdarkly", func(c *LaunchDarklyConfig) { c.Endpoint, c.Token, c.ProjectKey = s.URL, "t", "web" })
	_, err := tg.Act(context.Background(), testEnv(false), flagOffAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "Unknown environment key production")

	s = newServer(t, 429, `{"code":"rate_limited","message":"slow down"}`)
	tg = flagTarget(t, "launchdarkly", func(c *LaunchDarklyConfig) { c.Endpoint, c.Token, c.ProjectKey = s.URL, "t", "web" })
	_, err = tg.Act(context.Background(), testEnv(false), flagOffAction())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "slow down")

	s = newServer(t)
	tg = flagTarget(t, "launchdarkly", func(c *LaunchDarklyConfig) { c.Endpoint, c.Token, c.ProjectKey = s.URL, "t", "web" })
	rec := &Recorder{}
	_, err = tg.Act(WithRecorder(context.Background(), rec), testEnv(true), flagOffAction())
	require.NoError(t, err)
	assert.Empty(t, s.got())
	require.Len(t, rec.Requests, 1)
	r := rec.Requests[0]
	assert.Equal(t, "PATCH", r.Method)
	assert.Equal(t, s.URL+"/api/v2/flags/web/new-pricing", r.URL)
	assert.Equal(t, "application/json; domain-model=launchdarkly.semanticpatch", r.Headers["Content-Type"])
	assert.Equal(t, "<redacted>", r.Headers["Authorization"])
	assert.Contains(t, r.Body, `"instructions":[{"kind":"turnFlagOff"}]`)
}
