package releasecorrelationprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/detect"
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
			Detection: customDetection(),
		}},
		{id: component.NewIDWithName(Type, "bad_detection"), wantErr: "detection::interval: must be greater than zero"},
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
	bad := createDefaultConfig()
	sub, err := cm.Sub("releasecorrelation/bad_detection")
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(bad))
	err = confmap.Validate(bad)
	for _, want := range []string{"detection::min_samples: must be at least 1", "detection::latency_quantiles: 1.5 is not in (0, 1)",
		`detection::policy[0]: action: "explode" is not one of`, `detection::policy[1]: causes: "aliens" is not one of`} {
		assert.ErrorContains(t, err, want)
	}

	def := createDefaultConfig().(*Config)
	assert.Equal(t, []string{"deployment.id", "release.role"}, def.Attributes.Metrics, "metrics default to identity and role only")
}

func customDetection() detect.Config {
	d := detect.DefaultConfig()
	d.Warmup = 5 * time.Second
	d.MinSamples = 50
	d.LatencyQuantiles = []float64{0.99}
	d.Policy = []detect.PolicyRule{{
		Environments: []string{"prod*"}, Services: []string{"shop/*"}, Causes: []release.Cause{release.CauseEndogenous},
		MinConfidence: 0.999, Action: release.ActionPause,
	}}
	return d
}
