package target

import (
	"context"
	"errors"
	"fmt"
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
		Type: "slack",
		Actions: []release.Action{release.ActionNotify, release.ActionPause, release.ActionFlagOff,
			release.ActionRollback, release.ActionHold, release.ActionNone},
		NewConfig: func() any { return &SlackConfig{ClientConfig: clientDefaults("")} },
		New:       func(cfg any) (Target, error) { return &slack{cfg: cfg.(*SlackConfig)}, nil },
	})
}

// SlackConfig configures a Slack incoming webhook.
type SlackConfig struct {
	// ClientConfig holds the collector's standard HTTP client settings,
	// squashed into the target's block: tls, proxy_url, timeout, headers,
	// auth, compression... Its endpoint is not used: the URL is webhook_url.
	confighttp.ClientConfig `mapstructure:",squash"`

	// WebhookURL is the incoming webhook's URL. It is a secret (whoever has
	// it can post to the channel): it is redacted from the audit trail and
	// from errors, and no placeholders are resolved in it.
	WebhookURL configopaque.String `mapstructure:"webhook_url"`
	// Channel overrides the webhook's channel where Slack allows it (legacy
	// webhooks); {attribute} placeholders are resolved from the decision.
	Channel string `mapstructure:"channel"`
}

// HTTPClientConfig implements ClientSettings.
func (c *SlackConfig) HTTPClientConfig() *confighttp.ClientConfig { return &c.ClientConfig }

// Validate checks the configuration.
func (c *SlackConfig) Validate() error {
	if err := checkClient(&c.ClientConfig, "webhook_url"); err != nil {
		return err
	}
	if c.WebhookURL == "" {
		return errors.New("webhook_url: required")
	}
	if !isHTTPURL(string(c.WebhookURL)) {
		return errors.New("webhook_url: must be an http or https URL")
	}
	return nil
}

type slack struct{ cfg *SlackConfig }

// slackText is a Slack text object.
type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// slackBlock is the subset of Block Kit the message uses.
type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackMessage struct {
	Text    string       `json:"text"`
	Channel string       `json:"channel,omitempty"`
	Blocks  []slackBlock `json:"blocks"`
}

// Slack's limits on text in blocks.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
)

func (s *slack) Act(ctx context.Context, env Env, a Action) (string, error) {
	msg := slackMessageFor(env, a)
	msg.Channel = Expand(s.cfg.Channel, a)
	hook := string(s.cfg.WebhookURL)
	shown := msgRedactedURL(hook)
	ctx = WithRedactions(ctx, map[string]string{hook: shown})
	_, _, err := Do(ctx, env.HTTP, http.MethodPost, hook, nil, msg)
	if err != nil {
		return "", errRedact(err, hook, shown)
	}
	where := "Slack"
	if msg.Channel != "" {
		where += " channel " + msg.Channel
	}
	return "posted the " + string(a.Decision.Action) + " decision on " + msgReleaseName(a) + " to " + where, nil
}

// slackMessageFor builds the message: a header saying what, fields with the
// release and the decision, why, the top evidence, and links.
func slackMessageFor(env Env, a Action) slackMessage {
	d := a.Decision
	var blocks []slackBlock
	head := msgHeadline(a)
	if d.DryRun {
		head = "[dry run] " + head
	}
	blocks = append(blocks, slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: msgEllipsize(head, slackHeaderMax)}})

	version := d.Release[release.AttrServiceVersion]
	if pv := d.Release["previous_version"]; pv != "" {
		version += " (previous " + pv + ")"
	}
	field := func(name, value string) slackText {
		return slackText{Type: "mrkdwn", Text: msgEllipsize("*"+name+"*\n"+slackEscape(value), slackFieldMax)}
	}
	blocks = append(blocks, slackBlock{Type: "section", Fields: []slackText{
		field("Service", msgReleaseName(a)),
		field("Version", version),
		field("Environment", d.Release[release.AttrDeploymentEnvironment]),
		field("Action", string(d.Action)),
		field("Verdict", string(d.Verdict)),
		field("Cause", string(d.Cause)),
		field("Confidence", msgConfidence(d.Confidence)),
	}})
	if d.Rationale != "" {
		blocks = append(blocks, slackBlock{Type: "section",
			Text: &slackText{Type: "mrkdwn", Text: msgEllipsize("*Why:* "+slackEscape(d.Rationale), slackSectionMax)}})
	}
	if len(d.Evidence) > 0 {
		blocks = append(blocks, slackBlock{Type: "section",
			Text: &slackText{Type: "mrkdwn", Text: msgEllipsize("*Top evidence:* "+slackEscape(msgEvidenceLine(d, d.Evidence[0])), slackSectionMax)}})
	}
	var links []string
	for _, l := range msgLinks(env, a) {
		links = append(links, "<"+l.Href+"|"+slackEscape(strings.ReplaceAll(l.Text, "|", "/"))+">")
	}
	if len(links) > 0 {
		blocks = append(blocks, slackBlock{Type: "section",
			Text: &slackText{Type: "mrkdwn", Text: msgEllipsize(strings.Join(links, " · "), slackSectionMax)}})
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn",
		Text: slackEscape("decision " + d.DecisionID + " · deployment " + d.ReleaseID() + " · decided " + d.DecidedAt.UTC().Format("2006-01-02 15:04:05 MST"))}}})

	// The text is what notifications and clients without blocks show.
	text := head + " (" + string(d.Verdict) + ", " + string(d.Cause) + ", " + msgConfidence(d.Confidence) + " confidence)"
	if d.Rationale != "" {
		text += ": " + d.Rationale
	}
	return slackMessage{Text: slackEscape(text), Blocks: blocks}
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// --- helpers shared by the message targets (Slack, PagerDuty, GitHub) ---

// msgLink is a link in a message.
type msgLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// msgMaxTraceLinks bounds the exemplar traces linked from a message.
const msgMaxTraceLinks = 3

// msgOperatorLink is the release's page on the operator page ("" when no
// operator URL is configured).
func msgOperatorLink(env Env, a Action) string {
	if env.OperatorURL == "" {
		return ""
	}
	return strings.TrimRight(env.OperatorURL, "/") + "/releases/" + url.PathEscape(a.Decision.ReleaseID())
}

// msgLinks are the operator page of the release and the exemplar
// traces.
func msgLinks(env Env, a Action) []msgLink {
	var out []msgLink
	if op := msgOperatorLink(env, a); op != "" {
		out = append(out, msgLink{Href: op, Text: "Release " + a.Decision.ReleaseID() + " on the operator page"})
	}
	return append(out, msgTraceLinks(env, a)...)
}

// msgTraceLinks link up to three exemplar traces (the top evidence's first),
// skipping traces that have no link.
func msgTraceLinks(env Env, a Action) []msgLink {
	if env.TraceURL == nil {
		return nil
	}
	var out []msgLink
	seen := map[string]bool{}
	for _, e := range a.Decision.Evidence {
		for _, id := range e.Exemplars {
			if len(out) == msgMaxTraceLinks {
				return out
			}
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			if href := env.TraceURL(id); href != "" {
				out = append(out, msgLink{Href: href, Text: "Trace " + msgShortID(id) + " (" + e.Signal + ")"})
			}
		}
	}
	return out
}

func msgShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// msgReleaseName is "namespace/name" or "name".
func msgReleaseName(a Action) string {
	return release.QualifiedServiceNameOf(a.Decision.Release)
}

// msgHeadline says in a few words what was decided about which release:
// "Rollback: shop/checkout v1.4.2 in production".
func msgHeadline(a Action) string {
	d := a.Decision
	var what string
	switch d.Action {
	case release.ActionRollback:
		what = "Rollback"
	case release.ActionPause:
		what = "Pause"
	case release.ActionFlagOff:
		what = "Flags off"
	case release.ActionHold:
		what = "Hold (too little traffic)"
	default:
		switch d.Verdict {
		case release.VerdictRegression:
			what = "Regression"
		case release.VerdictHealthy:
			what = "Healthy"
		default:
			what = "Inconclusive"
		}
	}
	return what + ": " + msgReleaseName(a) + " " + d.Release[release.AttrServiceVersion] + " in " + d.Release[release.AttrDeploymentEnvironment]
}

// msgEvidenceLine describes one comparison: "error_rate 5.2% for v1.4.2 vs
// 1.1% for v1.4.1 (4.7×), 2013 vs 18211 samples".
func msgEvidenceLine(d *release.Decision, e release.Evidence) string {
	cand, ctrl := d.Release[release.AttrServiceVersion], d.Release["previous_version"]
	if cand == "" {
		cand = "the candidate"
	}
	if ctrl == "" {
		ctrl = "the control"
	}
	return fmt.Sprintf("%s %s for %s vs %s for %s (%.3g×), %d vs %d samples", e.Signal,
		msgSignalValue(e.Signal, e.Candidate), cand, msgSignalValue(e.Signal, e.Control), ctrl, e.Effect,
		e.Samples.Candidate, e.Samples.Control)
}

// msgSignalValue formats a signal's value: KPIs are per-request values, every
// other signal is a fraction of requests or records.
func msgSignalValue(signal string, v float64) string {
	if _, kpi := release.KPIName(signal); kpi {
		return fmt.Sprintf("%.4g", v)
	}
	return fmt.Sprintf("%.3g%%", 100*v)
}

// msgConfidence is "99.5%"; it never rounds up to a certainty.
func msgConfidence(c float64) string {
	s := fmt.Sprintf("%.4g", 100*c)
	if s == "100" && c < 1 {
		s = "99.99"
	}
	return s + "%"
}

// msgEllipsize cuts s to at most n characters, the last an ellipsis.
func msgEllipsize(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}

// hasPlaceholder reports whether a resolved template still holds a
// {placeholder} the decision did not resolve.
func hasPlaceholder(s string) bool {
	i := strings.IndexByte(s, '{')
	return i >= 0 && strings.IndexByte(s[i:], '}') > 0
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// msgRedactedURL is a secret URL as it may be shown: scheme and host only.
func msgRedactedURL(secret string) string {
	u, err := url.Parse(secret)
	if err != nil || u.Host == "" {
		return "<redacted>"
	}
	return u.Scheme + "://" + u.Host + "/<redacted>"
}

// redactedError is an error whose message had a secret replaced. It still
// answers errors.Is for the sentinels callers classify by.
type redactedError struct {
	msg   string
	kinds []error
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.kinds }

// errRedact replaces secret in err's message with shown.
func errRedact(err error, secret, shown string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	var kinds []error
	for _, k := range []error{ErrPermanent, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, k) {
			kinds = append(kinds, k)
		}
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), secret, shown), kinds: kinds}
}
