package target

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Factory{
		Type:      "pagerduty",
		Actions:   []release.Action{release.ActionNotify, release.ActionPause, release.ActionFlagOff, release.ActionRollback},
		NewConfig: func() any { return &PagerDutyConfig{ClientConfig: clientDefaults("https://events.pagerduty.com")} },
		New:       func(cfg any) (Target, error) { return &pagerduty{cfg: cfg.(*PagerDutyConfig)}, nil },
	})
}

// PagerDutyConfig configures PagerDuty Events API v2.
type PagerDutyConfig struct {
	// ClientConfig holds the collector's standard HTTP client settings,
	// squashed into the target's block: endpoint, tls, proxy_url, timeout,
	// headers, auth, compression...
	confighttp.ClientConfig `mapstructure:",squash"`

	// RoutingKey is the integration key of an Events API v2 integration on
	// a PagerDuty service. It travels in the body and is redacted from the
	// audit trail.
	RoutingKey configopaque.String `mapstructure:"routing_key"`
	// SeverityOverride replaces the severity derived from the action:
	// critical, error, warning or info.
	SeverityOverride string `mapstructure:"severity_override"`
}

var pagerDutySeverities = []string{"critical", "error", "warning", "info"}

// HTTPClientConfig implements ClientSettings.
func (c *PagerDutyConfig) HTTPClientConfig() *confighttp.ClientConfig { return &c.ClientConfig }

// Validate checks the configuration.
func (c *PagerDutyConfig) Validate() error {
	if err := checkClient(&c.ClientConfig, ""); err != nil {
		return err
	}
	if c.RoutingKey == "" {
		return errors.New("routing_key: required")
	}
	if c.Endpoint == "" {
		return errors.New("endpoint: required")
	}
	if !isHTTPURL(c.Endpoint) {
		return errors.New("endpoint: must be an http or https URL")
	}
	if c.SeverityOverride != "" {
		ok := false
		for _, s := range pagerDutySeverities {
			ok = ok || c.SeverityOverride == s
		}
		if !ok {
			return fmt.Errorf("severity_override: %q is not a PagerDuty severity; one of %s", c.SeverityOverride, strings.Join(pagerDutySeverities, ", "))
		}
	}
	return nil
}

type pagerduty struct{ cfg *PagerDutyConfig }

// pagerDutyEvent is an Events API v2 event.
type pagerDutyEvent struct {
	RoutingKey  string           `json:"routing_key"`
	EventAction string           `json:"event_action"`
	DedupKey    string           `json:"dedup_key"`
	Payload     pagerDutyPayload `json:"payload"`
	Client      string           `json:"client,omitempty"`
	ClientURL   string           `json:"client_url,omitempty"`
	Links       []msgLink        `json:"links,omitempty"`
}

type pagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details"`
}

// pagerDutySummaryMax is the Events API's limit on payload.summary.
const pagerDutySummaryMax = 1024

// PagerDutyDedupKey is the alert's de-duplication key: one alert per release,
// whatever the decisions about it.
func PagerDutyDedupKey(a Action) string { return "otelcol-release/" + a.Decision.ReleaseID() }

// pagerDutySeverity maps an action to a severity.
func pagerDutySeverity(action release.Action) string {
	switch action {
	case release.ActionRollback:
		return "critical"
	case release.ActionFlagOff, release.ActionPause:
		return "error"
	case release.ActionNotify:
		return "warning"
	}
	return "info"
}

func (p *pagerduty) Act(ctx context.Context, env Env, a Action) (string, error) {
	ev := pagerDutyEventFor(env, a)
	ev.RoutingKey = string(p.cfg.RoutingKey)
	if p.cfg.SeverityOverride != "" {
		ev.Payload.Severity = p.cfg.SeverityOverride
	}
	endpoint := strings.TrimRight(p.cfg.Endpoint, "/") + "/v2/enqueue"
	ctx = WithRedactions(ctx, map[string]string{ev.RoutingKey: "<redacted>"})
	_, _, err := Do(ctx, env.HTTP, http.MethodPost, endpoint, nil, ev)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("triggered a %s PagerDuty alert for %s (dedup key %s)", ev.Payload.Severity,
		msgReleaseName(a)+" "+a.Decision.Release[release.AttrServiceVersion]+" in "+a.Decision.Release[release.AttrDeploymentEnvironment], ev.DedupKey), nil
}

func pagerDutyEventFor(env Env, a Action) pagerDutyEvent {
	d := a.Decision
	summary := msgHeadline(a) + ": " + string(d.Verdict) + " (" + string(d.Cause) + "), " + msgConfidence(d.Confidence) + " confidence"
	if len(d.Evidence) > 0 {
		summary += "; " + msgEvidenceLine(d, d.Evidence[0])
	}
	if d.DryRun {
		summary = "[dry run] " + summary
	}
	links := msgLinks(env, a)
	evidence := make([]string, 0, len(d.Evidence))
	for _, e := range d.Evidence {
		evidence = append(evidence, msgEvidenceLine(d, e)+", "+msgConfidence(e.Confidence)+" confidence")
	}
	details := map[string]any{
		"decision_id": d.DecisionID,
		"action":      string(d.Action),
		"verdict":     string(d.Verdict),
		"cause":       string(d.Cause),
		"confidence":  d.Confidence,
		"dry_run":     d.DryRun,
		"rationale":   d.Rationale,
		"release":     d.Release,
		"evidence":    evidence,
	}
	if !d.DecidedAt.IsZero() {
		details["decided_at"] = d.DecidedAt.UTC().Format(time.RFC3339Nano)
	}
	if op := msgOperatorLink(env, a); op != "" {
		details["operator_page"] = op
	}
	var traces []string
	for _, l := range msgTraceLinks(env, a) {
		traces = append(traces, l.Href)
	}
	if len(traces) > 0 {
		details["traces"] = traces
	}
	source := msgReleaseName(a)
	if envName := d.Release[release.AttrDeploymentEnvironment]; envName != "" {
		source += " (" + envName + ")"
	}
	ev := pagerDutyEvent{
		EventAction: "trigger",
		DedupKey:    PagerDutyDedupKey(a),
		Payload: pagerDutyPayload{
			Summary:       msgEllipsize(summary, pagerDutySummaryMax),
			Source:        source,
			Severity:      pagerDutySeverity(d.Action),
			Component:     d.Release[release.AttrServiceName],
			Group:         d.Release[release.AttrDeploymentEnvironment],
			CustomDetails: details,
		},
		Client:    "otelcol-release",
		ClientURL: msgOperatorLink(env, a),
		Links:     links,
	}
	if !d.DecidedAt.IsZero() {
		ev.Payload.Timestamp = d.DecidedAt.UTC().Format(time.RFC3339Nano)
	}
	if len(d.Evidence) > 0 {
		ev.Payload.Class = d.Evidence[0].Signal
	}
	return ev
}
