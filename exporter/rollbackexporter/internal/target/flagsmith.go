package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Factory{
		Type:      "flagsmith",
		Actions:   []release.Action{release.ActionFlagOff},
		NewConfig: func() any { return &FlagsmithConfig{ClientConfig: clientDefaults("https://api.flagsmith.com")} },
		New:       func(cfg any) (Target, error) { return &flagsmith{cfg: cfg.(*FlagsmithConfig)}, nil },
	})
}

// FlagsmithConfig configures the Flagsmith target: it turns the release's
// feature flags off in one environment through the Admin API.
type FlagsmithConfig struct {
	// ClientConfig holds the collector's standard HTTP client settings,
	// squashed into the target's block: endpoint, tls, proxy_url, timeout,
	// headers, auth, compression...
	confighttp.ClientConfig `mapstructure:",squash"`

	// APIKey is an Admin API key (an organisation API key), sent as
	// "Authorization: Api-Key <key>".
	APIKey configopaque.String `mapstructure:"api_key"`
	// EnvironmentKey is the environment's API key (the client-side key
	// that names it); a template.
	EnvironmentKey string `mapstructure:"environment_key"`
	// Flags are turned off besides the release's own feature flags;
	// templates.
	Flags []string `mapstructure:"flags"`
}

// HTTPClientConfig implements ClientSettings.
func (c *FlagsmithConfig) HTTPClientConfig() *confighttp.ClientConfig { return &c.ClientConfig }

// Validate checks the configuration.
func (c *FlagsmithConfig) Validate() error {
	if err := checkClient(&c.ClientConfig, ""); err != nil {
		return err
	}
	if err := flagEndpointCheck("endpoint", c.Endpoint, true); err != nil {
		return err
	}
	if c.APIKey == "" {
		return errors.New("api_key: required")
	}
	if c.EnvironmentKey == "" {
		return errors.New("environment_key: required")
	}
	return nil
}

type flagsmith struct{ cfg *FlagsmithConfig }

// flagsmithFeatureState is what is used of a feature state.
type flagsmithFeatureState struct {
	ID             int64           `json:"id"`
	Enabled        bool            `json:"enabled"`
	Identity       json.RawMessage `json:"identity"`
	FeatureSegment json.RawMessage `json:"feature_segment"`
}

func (f *flagsmith) Act(ctx context.Context, env Env, a Action) (string, error) {
	flags, err := flagKeys(f.cfg.Flags, a)
	if err != nil {
		return "", err
	}
	envKey := Expand(f.cfg.EnvironmentKey, a)
	headers := map[string]string{"Authorization": "Api-Key " + string(f.cfg.APIKey)}
	states := strings.TrimRight(f.cfg.Endpoint, "/") + "/api/v1/environments/" + url.PathEscape(envKey) + "/featurestates/"
	var done []string
	for _, flag := range flags {
		// The lookup is a read: it goes through in dry run too, so the
		// recorded PATCH names the real feature state.
		_, answer, err := Do(ctx, env.HTTP, http.MethodGet, states+"?feature_name="+url.QueryEscape(flag), headers, nil)
		if err != nil {
			return "", flagPartial(err, done)
		}
		id, err := flagsmithStateID(answer, flag)
		if err != nil {
			return "", flagPartial(err, done)
		}
		if _, _, err := Do(ctx, env.HTTP, http.MethodPatch, states+strconv.FormatInt(id, 10)+"/", headers,
			map[string]bool{"enabled": false}); err != nil {
			return "", flagPartial(err, done)
		}
		done = append(done, flag+" (feature state "+strconv.FormatInt(id, 10)+")")
	}
	return "turned off " + strings.Join(done, ", ") + " in Flagsmith environment " + envKey, nil
}

// flagsmithStateID picks the environment's own feature state for a flag
// from a lookup's answer: paginated ({"results": [...]}) or a plain list.
// Identity and segment overrides are passed over when the answer says
// which they are.
func flagsmithStateID(answer []byte, flag string) (int64, error) {
	var states []flagsmithFeatureState
	trimmed := bytes.TrimSpace(answer)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &states); err != nil {
			return 0, Permanent("reading Flagsmith's feature states for %s: %v: %s", flag, err, clip(answer))
		}
	} else {
		var page struct {
			Results []flagsmithFeatureState `json:"results"`
		}
		if err := json.Unmarshal(trimmed, &page); err != nil {
			return 0, Permanent("reading Flagsmith's feature states for %s: %v: %s", flag, err, clip(answer))
		}
		states = page.Results
	}
	if len(states) == 0 {
		return 0, Permanent("flag %s: Flagsmith has no feature state for it in this environment", flag)
	}
	for _, s := range states {
		if flagsmithNull(s.Identity) && flagsmithNull(s.FeatureSegment) {
			return s.ID, nil
		}
	}
	return states[0].ID, nil
}

func flagsmithNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}
