package target

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Factory{
		Type:    "unleash",
		Actions: []release.Action{release.ActionFlagOff},
		NewConfig: func() any {
			return &UnleashConfig{ClientConfig: clientDefaults(""), Project: "default", Environment: "{deployment.environment.name}"}
		},
		New: func(cfg any) (Target, error) { return &unleash{cfg: cfg.(*UnleashConfig)}, nil },
	})
}

// UnleashConfig configures the Unleash target: it turns the release's
// feature flags off in the decision's environment through the admin API.
type UnleashConfig struct {
	// ClientConfig holds the collector's standard HTTP client settings,
	// squashed into the target's block: endpoint, tls, proxy_url, timeout,
	// headers, auth, compression...
	confighttp.ClientConfig `mapstructure:",squash"`

	// Token is an admin or personal access token, sent as the Authorization
	// header as it is (Unleash takes no "Bearer" prefix).
	Token configopaque.String `mapstructure:"token"`
	// Project is the Unleash project of the flags ("default"); a template.
	Project string `mapstructure:"project"`
	// Environment is the Unleash environment to turn the flags off in; a
	// template, "{deployment.environment.name}" by default.
	Environment string `mapstructure:"environment"`
	// Flags are turned off besides the release's own feature flags;
	// templates.
	Flags []string `mapstructure:"flags"`
}

// HTTPClientConfig implements ClientSettings.
func (c *UnleashConfig) HTTPClientConfig() *confighttp.ClientConfig { return &c.ClientConfig }

// Validate checks the configuration.
func (c *UnleashConfig) Validate() error {
	if err := checkClient(&c.ClientConfig, ""); err != nil {
		return err
	}
	if err := flagEndpointCheck("endpoint", c.Endpoint, true); err != nil {
		return err
	}
	if c.Project == "" {
		return errors.New("project: required")
	}
	if c.Environment == "" {
		return errors.New("environment: required")
	}
	return nil
}

type unleash struct{ cfg *UnleashConfig }

func (u *unleash) Act(ctx context.Context, env Env, a Action) (string, error) {
	flags, err := flagKeys(u.cfg.Flags, a)
	if err != nil {
		return "", err
	}
	project, environment := Expand(u.cfg.Project, a), Expand(u.cfg.Environment, a)
	headers := map[string]string{}
	if u.cfg.Token != "" {
		headers["Authorization"] = string(u.cfg.Token)
	}
	base := strings.TrimRight(u.cfg.Endpoint, "/")
	var done []string
	for _, flag := range flags {
		endpoint := base + "/api/admin/projects/" + url.PathEscape(project) + "/features/" + url.PathEscape(flag) +
			"/environments/" + url.PathEscape(environment) + "/off"
		if _, _, err := Do(ctx, env.HTTP, http.MethodPost, endpoint, headers, nil); err != nil {
			return "", flagPartial(err, done)
		}
		done = append(done, flag)
	}
	return "turned off " + strings.Join(done, ", ") + " in Unleash environment " + environment + " (project " + project + ")", nil
}

// flagKeys returns the feature flags a flag target turns off: the release's
// (release.feature_flags of its deploy event) followed by the configured
// ones (templates resolved), without duplicates. None is a permanent error.
func flagKeys(configured []string, a Action) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(k string) {
		k = strings.TrimSpace(k)
		if k != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, f := range Flags(a) {
		add(f.Key)
	}
	for _, f := range configured {
		add(Expand(f, a))
	}
	if len(out) == 0 {
		return nil, Permanent("no feature flags to turn off: the release names none and the target lists none")
	}
	return out, nil
}

// flagPartial says which flags were already turned off when a later one failed,
// keeping the error's class (a retry turns them off again, harmlessly).
func flagPartial(err error, done []string) error {
	if len(done) == 0 {
		return err
	}
	return &flagPartialError{err: err, done: strings.Join(done, ", ")}
}

type flagPartialError struct {
	err  error
	done string
}

func (e *flagPartialError) Error() string {
	return e.err.Error() + " (already turned off: " + e.done + ")"
}
func (e *flagPartialError) Unwrap() error { return e.err }

// flagEndpointCheck checks that a configured base URL is http or https.
func flagEndpointCheck(field, s string, required bool) error {
	if s == "" {
		if required {
			return errors.New(field + ": required")
		}
		return nil
	}
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New(field + ": must be an http or https URL")
	}
	return nil
}
