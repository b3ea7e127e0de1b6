package releasecorrelationprocessor

import (
	"path/filepath"
	"testing"

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
	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(Type), want: createDefaultConfig().(*Config)},
		{id: component.NewIDWithName(Type, "custom"), want: &Config{
			Store: &storeID, Environment: "production", Overwrite: true,
			Attributes: AttributesConfig{
				Traces:  []string{"deployment.id", "release.role", "vcs.ref.head.revision"},
				Metrics: []string{"deployment.id"},
				Logs:    []string{"deployment.id", "release.role"},
			},
		}},
		{id: component.NewIDWithName(Type, "bad_attribute"), wantErr: `attributes::metrics: "release.rollout_pct" is not a stampable attribute`},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
	def := createDefaultConfig().(*Config)
	assert.Equal(t, []string{"deployment.id", "release.role"}, def.Attributes.Metrics, "metrics default to identity and role only")
}
