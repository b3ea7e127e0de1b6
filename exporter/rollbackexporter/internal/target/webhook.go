package target

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Factory{
		Type: "webhook",
		Actions: []release.Action{release.ActionNotify, release.ActionPause, release.ActionFlagOff,
			release.ActionRollback, release.ActionHold, release.ActionNone},
		NewConfig: func() any { return &WebhookConfig{ClientConfig: clientDefaults("")} },
		New:       func(cfg any) (Target, error) { return &webhook{cfg: cfg.(*WebhookConfig)}, nil },
	})
}

// WebhookConfig configures the generic webhook.
type WebhookConfig struct {
	// ClientConfig holds the collector's standard HTTP client settings,
	// squashed into the target's block: endpoint, tls, proxy_url, timeout,
	// headers, auth, compression... Endpoint receives the decision document
	// by POST; {attribute} placeholders in it are resolved from the
	// decision. Headers are added to every request (redacted in the audit
	// trail).
	confighttp.ClientConfig `mapstructure:",squash"`

	// Secret signs the requests: X-Signature-256 is "sha256=" + hex
	// HMAC-SHA256(secret, timestamp + "." + body), with the timestamp (Unix
	// seconds) in X-Signature-Timestamp, so receivers can refuse replays.
	Secret configopaque.String `mapstructure:"secret"`
}

// HTTPClientConfig implements ClientSettings.
func (c *WebhookConfig) HTTPClientConfig() *confighttp.ClientConfig { return &c.ClientConfig }

// Validate checks the configuration.
func (c *WebhookConfig) Validate() error {
	if err := checkClient(&c.ClientConfig, ""); err != nil {
		return err
	}
	if c.Endpoint == "" {
		return errors.New("endpoint: required")
	}
	if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("endpoint: must be an http or https URL")
	}
	return nil
}

type webhook struct{ cfg *WebhookConfig }

// SignWebhook returns the X-Signature-256 value for a timestamp and body.
func SignWebhook(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (w *webhook) Act(ctx context.Context, env Env, a Action) (string, error) {
	body, err := json.Marshal(a.Decision)
	if err != nil {
		return "", Permanent("encoding the decision: %v", err)
	}
	// Configured headers are set by the client (confighttp); the audit
	// trail redacts them.
	headers := map[string]string{"Idempotency-Key": a.IdempotencyKey}
	if w.cfg.Secret != "" {
		ts := strconv.FormatInt(env.Now().Unix(), 10)
		headers["X-Signature-Timestamp"] = ts
		headers["X-Signature-256"] = SignWebhook([]byte(string(w.cfg.Secret)), ts, body)
	}
	endpoint := Expand(w.cfg.Endpoint, a)
	status, _, err := Do(ctx, env.HTTP, http.MethodPost, endpoint, headers, body)
	if err != nil {
		return "", err
	}
	return "posted the decision to " + endpoint + " (" + strconv.Itoa(status) + ")", nil
}
