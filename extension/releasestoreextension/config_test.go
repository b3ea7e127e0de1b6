package releasestoreextension

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	custom := func() *Config {
		cfg := createDefaultConfig().(*Config)
		cfg.NetAddr.Endpoint = "0.0.0.0:9089"
		id := component.MustNewIDWithName("file_storage", "releases")
		cfg.Storage = &id
		cfg.MaxKeys = 500
		cfg.MaxHistory = 5
		cfg.MaxDecisions = 50
		cfg.DedupeWindow = 90 * time.Minute
		cfg.MaxDedupeEntries = 2000
		return cfg
	}

	tests := []struct {
		id       component.ID
		expected *Config
		// errs are the keys the validation error must name; none means valid.
		errs []string
	}{
		{id: component.NewID(Type), expected: createDefaultConfig().(*Config)},
		{id: component.NewIDWithName(Type, "custom"), expected: custom()},
		{id: component.NewIDWithName(Type, "empty_endpoint"), errs: []string{"endpoint: must be set"}},
		{id: component.NewIDWithName(Type, "zero_max_keys"), errs: []string{"max_keys: must be greater than zero (got 0)"}},
		{id: component.NewIDWithName(Type, "negative_dedupe_window"), errs: []string{"dedupe_window: must be greater than zero (got -1s)"}},
		{id: component.NewIDWithName(Type, "negative_caps"), errs: []string{
			"max_history: must be at least 2, to hold a rollout and the version it replaces (got -1)",
			"max_decisions: must be greater than zero (got -2)",
			"max_dedupe_entries: must be greater than zero (got 0)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if len(tt.errs) == 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.expected, cfg)
				return
			}
			require.Error(t, err)
			for _, want := range tt.errs {
				assert.Contains(t, err.Error(), want)
			}
			// Only the broken keys are reported.
			for _, other := range []string{"endpoint:", "max_keys:", "max_history:", "max_decisions:", "dedupe_window:", "max_dedupe_entries:"} {
				named := false
				for _, want := range tt.errs {
					named = named || len(want) >= len(other) && want[:len(other)] == other
				}
				if !named {
					assert.NotContains(t, err.Error(), other)
				}
			}
		})
	}
}

func TestLoadConfigRejectsUnknownKeys(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("releasestore/unknown_key")
	require.NoError(t, err)
	err = sub.Unmarshal(NewFactory().CreateDefaultConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "max_key")
}

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, Type, f.Type())
	assert.Equal(t, "releasestore", Type.String())
	assert.Equal(t, component.StabilityLevelAlpha, f.Stability())
	cfg := f.CreateDefaultConfig().(*Config)
	assert.NoError(t, componenttest.CheckConfigStruct(cfg))
	assert.NoError(t, confmap.Validate(cfg))
	want := confighttp.NewDefaultServerConfig()
	want.NetAddr.Endpoint = DefaultEndpoint
	assert.Equal(t, want, cfg.ServerConfig)
	assert.Equal(t, "localhost:8089", cfg.NetAddr.Endpoint)
	assert.Nil(t, cfg.Storage)
	assert.Equal(t, 10000, cfg.MaxKeys)
	assert.Equal(t, 20, cfg.MaxHistory)
	assert.Equal(t, 10000, cfg.MaxDecisions)
	assert.Equal(t, 24*time.Hour, cfg.DedupeWindow)
	assert.Equal(t, 100000, cfg.MaxDedupeEntries)

	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	_, ok := ext.(Store)
	assert.True(t, ok, "the extension is a Store")
	assert.NoError(t, ext.Shutdown(context.Background()))
}
