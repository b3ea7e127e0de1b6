package target

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Factory{
		Type:      "spinnaker",
		Actions:   []release.Action{release.ActionRollback, release.ActionPause},
		NewConfig: func() any { return &SpinnakerConfig{ClientConfig: clientDefaults("")} },
		New:       func(cfg any) (Target, error) { return &spinnaker{cfg: cfg.(*SpinnakerConfig)}, nil },
	})
}

// SpinnakerConfig configures a Spinnaker pipeline trigger through Gate.
type SpinnakerConfig struct {
	// ClientConfig holds the collector's standard HTTP client settings,
	// squashed into the target's block: tls, proxy_url, timeout, headers,
	// auth, compression... Its endpoint is not used: the URL is gate_url.
	confighttp.ClientConfig `mapstructure:",squash"`

	// GateURL is Gate's base URL.
	GateURL string `mapstructure:"gate_url"`
	// Application is the Spinnaker application (a template, such as
	// "{service.name}").
	Application string `mapstructure:"application"`
	// Pipeline is the pipeline's name or id (a template).
	Pipeline string `mapstructure:"pipeline"`
}

// HTTPClientConfig implements ClientSettings.
func (c *SpinnakerConfig) HTTPClientConfig() *confighttp.ClientConfig { return &c.ClientConfig }

// Validate checks the configuration.
func (c *SpinnakerConfig) Validate() error {
	if err := checkClient(&c.ClientConfig, "gate_url"); err != nil {
		return err
	}
	if c.GateURL == "" {
		return errors.New("gate_url: required")
	}
	if !isHTTPURL(c.GateURL) {
		return errors.New("gate_url: must be an http or https URL")
	}
	if c.Application == "" {
		return errors.New("application: required")
	}
	if c.Pipeline == "" {
		return errors.New("pipeline: required")
	}
	return nil
}

type spinnaker struct{ cfg *SpinnakerConfig }

type spinnakerTrigger struct {
	Type       string            `json:"type"`
	Parameters map[string]string `json:"parameters"`
}

// SpinnakerParameters are the pipeline parameters a decision becomes.
func SpinnakerParameters(a Action) map[string]string {
	d := a.Decision
	return map[string]string{
		"decision_id":      d.DecisionID,
		"action":           string(d.Action),
		"service":          d.Release[release.AttrServiceName],
		"environment":      d.Release[release.AttrDeploymentEnvironment],
		"version":          d.Release[release.AttrServiceVersion],
		"previous_version": d.Release["previous_version"],
		"deployment_id":    d.ReleaseID(),
		"confidence":       strconv.FormatFloat(d.Confidence, 'f', -1, 64),
		"rationale":        d.Rationale,
	}
}

func (s *spinnaker) Act(ctx context.Context, env Env, a Action) (string, error) {
	app, pipeline := Expand(s.cfg.Application, a), Expand(s.cfg.Pipeline, a)
	for _, n := range [][2]string{{"application", app}, {"pipeline", pipeline}} {
		if n[1] == "" || hasPlaceholder(n[1]) {
			return "", Permanent("%s resolves to %q: the decision does not name it", n[0], n[1])
		}
	}
	// Configured headers (Gate's authentication) are set by the client
	// (confighttp); the audit trail redacts them.
	var headers map[string]string
	endpoint := strings.TrimRight(s.cfg.GateURL, "/") + "/pipelines/" + url.PathEscape(app) + "/" + url.PathEscape(pipeline)
	_, answer, err := Do(ctx, env.HTTP, http.MethodPost, endpoint, headers, spinnakerTrigger{Type: "manual", Parameters: SpinnakerParameters(a)})
	if err != nil {
		return "", err
	}
	summary := "triggered Spinnaker pipeline " + pipeline + " of application " + app
	var ref struct {
		Ref string `json:"ref"`
	}
	if json.Unmarshal(answer, &ref) == nil && ref.Ref != "" {
		summary += " (" + ref.Ref + ")"
	}
	return summary, nil
}
