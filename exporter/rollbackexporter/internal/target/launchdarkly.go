package target

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Factory{
		Type:    "launchdarkly",
		Actions: []release.Action{release.ActionFlagOff},
		NewConfig: func() any {
			return &LaunchDarklyConfig{ClientConfig: clientDefaults("https://app.launchdarkly.com"), Environment: "{deployment.environment.name}"}
		},
		New: func(cfg any) (Target, error) { return &launchDarkly{cfg: cfg.(*LaunchDarklyConfig)}, nil },
	})
}

// LaunchDarklyConfig configures the LaunchDarkly target: it turns the
// release's feature flags off in an environment with a semantic patch.
type LaunchDarklyConfig struct {
	// ClientConfig holds the collector's standard HTTP client settings,
	// squashed into the target's block: endpoint, tls, proxy_url, timeout,
	// headers, auth, compression...
	confighttp.ClientConfig `mapstructure:",squash"`

	// Token is an API access token with writer rights, sent as the
	// Authorization header as it is (no "Bearer").
	Token configopaque.String `mapstructure:"token"`
	// ProjectKey is the LaunchDarkly project; a template.
	ProjectKey string `mapstructure:"project_key"`
	// Environment is the environment key; a template,
	// "{deployment.environment.name}" by default.
	Environment string `mapstructure:"environment"`
	// Flags are turned off besides the release's own feature flags;
	// templates.
	Flags []string `mapstructure:"flags"`
}

// HTTPClientConfig implements ClientSettings.
func (c *LaunchDarklyConfig) HTTPClientConfig() *confighttp.ClientConfig { return &c.ClientConfig }

// Validate checks the configuration.
func (c *LaunchDarklyConfig) Validate() error {
	if err := checkClient(&c.ClientConfig, ""); err != nil {
		return err
	}
	if err := flagEndpointCheck("endpoint", c.Endpoint, true); err != nil {
		return err
	}
	if c.Token == "" {
		return errors.New("token: required")
	}
	if c.ProjectKey == "" {
		return errors.New("project_key: required")
	}
	if c.Environment == "" {
		return errors.New("environment: required")
	}
	return nil
}

// launchDarklySemanticPatch is the content type of LaunchDarkly's semantic
// patches; a plain JSON patch would need the flag's current state.
const launchDarklySemanticPatch = "application/json; domain-model=launchdarkly.semanticpatch"

// maxLaunchDarklyComment bounds the comment LaunchDarkly keeps in the flag's
// audit log.
const maxLaunchDarklyComment = 500

type launchDarkly struct{ cfg *LaunchDarklyConfig }

type ldInstruction struct {
	Kind string `json:"kind"`
}

type ldSemanticPatch struct {
	EnvironmentKey string          `json:"environmentKey"`
	Comment        string          `json:"comment"`
	Instructions   []ldInstruction `json:"instructions"`
}

func (l *launchDarkly) Act(ctx context.Context, env Env, a Action) (string, error) {
	flags, err := flagKeys(l.cfg.Flags, a)
	if err != nil {
		return "", err
	}
	project, environment := Expand(l.cfg.ProjectKey, a), Expand(l.cfg.Environment, a)
	body := ldSemanticPatch{
		EnvironmentKey: environment,
		Comment:        ldTruncate("otelcol-release decision "+a.Decision.DecisionID+": "+a.Decision.Rationale, maxLaunchDarklyComment),
		Instructions:   []ldInstruction{{Kind: "turnFlagOff"}},
	}
	headers := map[string]string{"Authorization": string(l.cfg.Token), "Content-Type": launchDarklySemanticPatch}
	base := strings.TrimRight(l.cfg.Endpoint, "/")
	var done []string
	for _, flag := range flags {
		endpoint := base + "/api/v2/flags/" + url.PathEscape(project) + "/" + url.PathEscape(flag)
		if _, _, err := Do(ctx, env.HTTP, http.MethodPatch, endpoint, headers, body); err != nil {
			return "", flagPartial(err, done)
		}
		done = append(done, flag)
	}
	return "turned off " + strings.Join(done, ", ") + " in LaunchDarkly environment " + environment + " (project " + project + ")", nil
}

// ldTruncate cuts s to at most n bytes without splitting a character,
// marking the cut with "...".
func ldTruncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
