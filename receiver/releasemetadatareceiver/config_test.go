package releasemetadatareceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	storeID := component.MustNewIDWithName("releasestore", "main")
	disabled := false

	tests := []struct {
		id      component.ID
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{id: component.NewID(Type), check: func(t *testing.T, c *Config) {
			assert.Equal(t, DefaultEndpoint, c.NetAddr.Endpoint)
			assert.Equal(t, 5*time.Minute, c.MaxFutureSkew)
			assert.Nil(t, c.Store)
			assert.Equal(t, int64(defaultMaxBodySize), c.MaxRequestBodySize)
			assert.Empty(t, c.Sources)
		}},
		{id: component.NewIDWithName(Type, "custom"), check: func(t *testing.T, c *Config) {
			assert.Equal(t, "0.0.0.0:9088", c.NetAddr.Endpoint)
			assert.Equal(t, &storeID, c.Store)
			assert.Equal(t, time.Minute, c.MaxFutureSkew)
			assert.Equal(t, map[string]string{"prd-eu": "production"}, c.EnvironmentAliases)
			assert.Equal(t, "gh-secret", string(c.Sources["github"].Secret))
			assert.True(t, c.Sources["github"].enabled())
			assert.Equal(t, &disabled, c.Sources["flux"].Enabled)
			assert.False(t, c.Sources["flux"].enabled())
			assert.True(t, c.Sources["native"].enabled(), "unconfigured sources stay enabled")
		}},
		{id: component.NewIDWithName(Type, "unknown_source"), wantErr: "sources::jenkins: is not an event source; known sources: argocd, cdevents, flux, github, gitlab, native"},
		{id: component.NewIDWithName(Type, "no_endpoint"), wantErr: "endpoint: must be set"},
		{id: component.NewIDWithName(Type, "negative_skew"), wantErr: "max_future_skew: must not be negative"},
		{id: component.NewIDWithName(Type, "empty_alias"), wantErr: "environment_aliases"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, cfg.(*Config))
		})
	}
}
