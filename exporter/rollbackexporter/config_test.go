package rollbackexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-release/otelcol-release/exporter/rollbackexporter/internal/target"
	"github.com/otelcol-release/otelcol-release/internal/release"
)

func load(t *testing.T, id string) (*Config, error) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(id)
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	cfg, err := load(t, "rollback")
	require.NoError(t, err)
	assert.False(t, cfg.DryRun)
	assert.Empty(t, cfg.Targets)
	assert.Equal(t, 10*time.Second, cfg.Timeout)
	assert.True(t, cfg.RetryConfig.Enabled)

	cfg, err = load(t, "rollback/full")
	require.NoError(t, err)
	assert.True(t, cfg.DryRun)
	assert.Equal(t, []string{"production"}, cfg.RequireApproval)
	assert.Equal(t, BrakeConfig{Count: 3, Per: time.Hour}, cfg.MaxActions)
	require.Len(t, cfg.Targets, 2)
	hooks := cfg.Targets[0]
	assert.Equal(t, "hooks", hooks.Name)
	assert.Equal(t, "webhook", hooks.Type)
	assert.Equal(t, MatchConfig{Environments: []string{"production", "staging"}, Actions: []release.Action{release.ActionRollback, release.ActionNotify}}, hooks.Match)
	wh := hooks.Settings.(*target.WebhookConfig)
	assert.Equal(t, "https://hooks.example.com/{service.name}", wh.Endpoint)
	assert.Equal(t, "s3cret", string(wh.Secret))
	require.NotNil(t, cfg.Targets[1].DryRun)
	assert.False(t, *cfg.Targets[1].DryRun)
	fs := component.MustNewID("file_storage")
	require.True(t, cfg.QueueConfig.HasValue())
	assert.Equal(t, &fs, cfg.QueueConfig.Get().StorageID)
}

func TestLoadClientSettings(t *testing.T) {
	cfg, err := load(t, "rollback/client")
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, cfg.Timeout, "the exporter's timeout stays the default for every target")
	require.Len(t, cfg.Targets, 2)
	cd := cfg.Targets[0].Settings.(*target.ArgoCDConfig)
	assert.Equal(t, "https://argocd.internal.example.com", cd.Server)
	assert.Equal(t, "/etc/otelcol/internal-ca.pem", cd.TLS.CAFile)
	assert.Equal(t, "http://proxy.internal.example.com:3128", cd.ProxyURL)
	assert.Equal(t, 20*time.Second, cd.Timeout)
	require.True(t, cd.Auth.HasValue())
	assert.Equal(t, component.MustNewIDWithName("bearertokenauth", "argocd"), cd.Auth.Get().AuthenticatorID)
	gate := cfg.Targets[1].Settings.(*target.SpinnakerConfig)
	v, ok := gate.Headers.Get("X-Spinnaker-Token")
	require.True(t, ok, "headers keep their map form")
	assert.Equal(t, "s3cret", string(v))
}

func TestInvalidConfigs(t *testing.T) {
	for id, want := range map[string]string{
		"rollback/two_types":       `"nonexistent" is neither a target setting (name, dry_run, match) nor a target type`,
		"rollback/no_type":         "a target needs exactly one target type key",
		"rollback/bad_target":      `targets[0] (x): webhook: endpoint: must be an http or https URL`,
		"rollback/bad_brake":       "max_actions: count must be >= 0, and per > 0 when count is set",
		"rollback/client_endpoint": "targets[0] (argocd-internal): argocd: endpoint: not used by this target type; its URL is server",
	} {
		_, err := load(t, id)
		require.ErrorContains(t, err, want, id)
	}
	_, err := load(t, "rollback/bad_target")
	require.ErrorContains(t, err, `targets[1]: name: "x" is used twice`)
	require.ErrorContains(t, err, `targets[1]: match::actions: "explode" is not an action`)
}
