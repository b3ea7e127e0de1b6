package rollbackexporter

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// withBearerTokenAuth adds a real bearertokenauth extension, made by its
// factory, to the host the exporter starts with.
func withBearerTokenAuth(t *testing.T, e *env, token string) {
	t.Helper()
	f := bearertokenauthextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*bearertokenauthextension.Config)
	cfg.BearerToken = configopaque.String(token)
	auth, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, auth.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, auth.Shutdown(context.Background())) })
	e.host.GetExtensions()[component.MustNewID("bearertokenauth")] = auth
}

// targetsFromYAML sets the targets as a collector configuration would.
func targetsFromYAML(t *testing.T, targets ...map[string]any) func(*Config) {
	return func(c *Config) {
		list := make([]any, len(targets))
		for i, tg := range targets {
			list[i] = tg
		}
		require.NoError(t, confmap.NewFromStringMap(map[string]any{"targets": list}).Unmarshal(c))
	}
}

func TestAuthExtensionOnTargetRequests(t *testing.T) {
	for _, dry := range []bool{false, true} {
		e := startEnv(t, "")
		withBearerTokenAuth(t, e, "argocd-api-token")
		hook := newHookServer(t)
		exp := e.exporter(t, targetsFromYAML(t, map[string]any{
			"name": "hooks", "dry_run": dry,
			"webhook": map[string]any{
				"endpoint": hook.URL + "/{service.name}",
				"auth":     map[string]any{"authenticator": "bearertokenauth"},
				"headers":  map[string]any{"X-Team": "payments"},
			},
		}))
		d := decision("dec-auth", "deploy-auth", "production", release.ActionRollback)
		require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(t, d)))
		o := e.next(t)
		require.Len(t, o.Requests, 1)
		got := o.Requests[0]
		assert.Equal(t, "POST", got.Method)
		assert.Equal(t, hook.URL+"/checkout", got.URL)
		assert.Equal(t, "<redacted>", got.Headers["Authorization"], "the auth extension's header is recorded, redacted")
		assert.Equal(t, "<redacted>", got.Headers["X-Team"], "configured headers are recorded, redacted")
		assert.Equal(t, "application/json", got.Headers["Content-Type"])
		assert.NotEmpty(t, got.Headers["Idempotency-Key"])
		var body release.Decision
		require.NoError(t, json.Unmarshal([]byte(got.Body), &body))
		assert.Equal(t, *d, body)
		assert.NotContains(t, got.Body+got.URL, "argocd-api-token")
		if dry {
			assert.Equal(t, release.OutcomeDryRun, o.Status)
			assert.Zero(t, hook.count(), "dry run sends nothing")
			continue
		}
		assert.Equal(t, release.OutcomeDone, o.Status)
		require.Equal(t, 1, hook.count())
		assert.Equal(t, "Bearer argocd-api-token", hook.heads[0].Get("Authorization"), "bearertokenauth put its header on the request")
		assert.Equal(t, "payments", hook.heads[0].Get("X-Team"))
		assert.Equal(t, 200, got.Status)
	}
}

func TestStartFailsOnAMissingAuthExtension(t *testing.T) {
	e := startEnv(t, "")
	cfg := createDefaultConfig().(*Config)
	cfg.QueueConfig = configoptional.None[exporterQueueConfig]()
	targetsFromYAML(t, map[string]any{"name": "cd", "argocd": map[string]any{
		"server": "https://argocd.internal", "auth": map[string]any{"authenticator": "oauth2client"},
	}})(cfg)
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(Type)
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	err = exp.Start(context.Background(), e.host)
	require.ErrorContains(t, err, "rollback: targets[0] (cd): argocd: http client:")
	require.ErrorContains(t, err, "oauth2client")
	require.NoError(t, exp.Shutdown(context.Background()))
}
