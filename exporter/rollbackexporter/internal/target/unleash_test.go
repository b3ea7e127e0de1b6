package target

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// flagTarget builds a registered target from its default configuration as
// changed by set, checking that the factory's defaults validate.
func flagTarget[C any](t *testing.T, typ string, set func(*C)) Target {
	t.Helper()
	f, ok := Lookup(typ)
	require.True(t, ok, typ)
	cfg := f.NewConfig().(*C)
	set(cfg)
	if v, ok := any(cfg).(interface{ Validate() error }); ok {
		require.NoError(t, v.Validate())
	}
	tg, err := f.New(cfg)
	require.NoError(t, err)
	return tg
}

// flagOffAction is the test decision as a flag_off decision.
func flagOffAction() Action {
	a := testAction()
	d := *a.Decision
	d.Action = release.ActionFlagOff
	a.Decision = &d
	return a
}

func TestUnleashTurnsTheReleaseFlagsOff(t *testing.T) {
	s := newServer(t, 200, `{}`)
	tg := flagTarget(t, "unleash", func(c *UnleashConfig) {
		c.Endpoint = s.URL + "/"
		c.Token = "*:*.admin-token"
		c.Flags = []string{"kill-{service.name}", "new-pricing"}
	})
	summary, err := tg.Act(context.Background(), testEnv(false), flagOffAction())
	require.NoError(t, err)
	assert.Equal(t, "turned off new-pricing, kill-checkout in Unleash environment production (project default)", summary)
	got := s.got()
	require.Len(t, got, 2)
	for i, flag := range []string{"new-pricing", "kill-checkout"} {
		r := got[i]
		assert.Equal(t, "POST", r.Method)
		assert.Equal(t, "/api/admin/projects/default/features/"+flag+"/environments/production/off", r.Path)
		assert.Equal(t, "*:*.admin-token", r.Header.Get("Authorization"), "the token as it is, no Bearer")
		assert.Empty(t, r.Header.Get("Content-Type"))
		assert.Empty(t, r.Body)
	}
}

func TestUnleashTemplatesAndDefaults(t *testing.T) {
	f, _ := Lookup("unleash")
	assert.Equal(t, []release.Action{release.ActionFlagOff}, f.Actions)
	def := f.NewConfig().(*UnleashConfig)
	assert.Equal(t, "default", def.Project)
	assert.Equal(t, "{deployment.environment.name}", def.Environment)

	s := newServer(t)
	tg := flagTarget(t, "unleash", func(c *UnleashConfig) {
		c.Endpoint = s.URL
		c.Project = "{service.namespace}"
		c.Environment = "{deployment.environment.name}-eu"
	})
	_, err := tg.Act(context.Background(), testEnv(false), flagOffAction())
	require.NoError(t, err)
	require.Len(t, s.got(), 1)
	assert.Equal(t, "/api/admin/projects/shop/features/new-pricing/environments/production-eu/off", s.got()[0].Path)
	assert.Empty(t, s.got()[0].Header.Get("Authorization"), "no token, no header")
}

func TestUnleashErrors(t *testing.T) {
	// A flag Unleash does not know: permanent, with Unleash's answer.
	s := newServer(t, 404, `{"name":"NotFoundError","message":"Could not find feature flag with name new-pricing"}`)
	tg := flagTarget(t, "unleash", func(c *UnleashConfig) { c.Endpoint = s.URL })
	_, err := tg.Act(context.Background(), testEnv(false), flagOffAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "Could not find feature flag with name new-pricing")

	// A server error: transient, and the flags already off are named.
	s = newServer(t, 200, `{}`, 503, `{"message":"db down"}`)
	tg = flagTarget(t, "unleash", func(c *UnleashConfig) { c.Endpoint = s.URL; c.Flags = []string{"other"} })
	_, err = tg.Act(context.Background(), testEnv(false), flagOffAction())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "db down")
	assert.Contains(t, err.Error(), "(already turned off: new-pricing)")

	// Nothing to turn off.
	a := flagOffAction()
	a.Release = nil
	tg = flagTarget(t, "unleash", func(c *UnleashConfig) { c.Endpoint = s.URL })
	_, err = tg.Act(context.Background(), testEnv(false), a)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.EqualError(t, err, "permanent: no feature flags to turn off: the release names none and the target lists none")
}

func TestUnleashDryRunRecordsAndSendsNothing(t *testing.T) {
	s := newServer(t)
	tg := flagTarget(t, "unleash", func(c *UnleashConfig) { c.Endpoint = s.URL; c.Token = "secret" })
	rec := &Recorder{}
	_, err := tg.Act(WithRecorder(context.Background(), rec), testEnv(true), flagOffAction())
	require.NoError(t, err)
	assert.Empty(t, s.got())
	require.Len(t, rec.Requests, 1)
	assert.Equal(t, "POST", rec.Requests[0].Method)
	assert.Equal(t, s.URL+"/api/admin/projects/default/features/new-pricing/environments/production/off", rec.Requests[0].URL)
	assert.Equal(t, "<redacted>", rec.Requests[0].Headers["Authorization"])
}

func TestUnleashValidate(t *testing.T) {
	c := &UnleashConfig{Project: "default", Environment: "x"}
	assert.EqualError(t, c.Validate(), "endpoint: required")
	c.Endpoint = "unleash:4242"
	assert.EqualError(t, c.Validate(), "endpoint: must be an http or https URL")
	c.Endpoint = "http://unleash:4242"
	assert.NoError(t, c.Validate())
	c.Project = ""
	assert.EqualError(t, c.Validate(), "project: required")
}
