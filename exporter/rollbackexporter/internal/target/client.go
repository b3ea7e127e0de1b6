package target

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configmiddleware"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
)

// ClientSettings is implemented by the configurations of targets that send
// through an HTTP client built from the collector's standard client
// settings (confighttp.ClientConfig, squashed into the target's block:
// tls, proxy_url, timeout, headers, auth...).
type ClientSettings interface {
	HTTPClientConfig() *confighttp.ClientConfig
}

// Clients are a target's two HTTP clients: Live sends, Dry records and
// answers mutations without sending them.
type Clients struct {
	Live, Dry *http.Client
	// Timeout is the client's timeout: the target's own `timeout`, else
	// the exporter's.
	Timeout time.Duration
}

// auditType names the in-process middleware that records requests.
var auditType = component.MustNewType("rollback_audit")

// NewClients builds a target's clients with confighttp's ToClient, so TLS,
// proxy_url, timeout, headers, compression, middlewares and auth
// extensions behave as in any collector component. The recording
// transport is the innermost client middleware: it sees each request as it
// goes on the wire, after headers and the auth extension have been
// applied, and in dry run answers instead of sending. Headers added beneath
// the target (configured `headers:`, the auth extension's) are redacted in
// the audit trail, and so are their values wherever they appear.
// defaultTimeout applies when the settings set no timeout.
func NewClients(ctx context.Context, cc *confighttp.ClientConfig, extensions map[component.ID]component.Component,
	set component.TelemetrySettings, defaultTimeout time.Duration) (Clients, error) {
	out := Clients{Timeout: cc.Timeout}
	if out.Timeout <= 0 {
		out.Timeout = defaultTimeout
	}
	build := func(dry bool) (*http.Client, error) {
		name := "live"
		if dry {
			name = "dry_run"
		}
		id := component.NewIDWithName(auditType, name)
		exts := make(map[component.ID]component.Component, len(extensions)+1)
		maps.Copy(exts, extensions)
		audit := &RecordingTransport{DryRun: dry, redactAdded: true}
		exts[id] = auditMiddleware{audit: audit}
		c := *cc
		// Last in the list is the innermost, beneath the auth extension.
		c.Middlewares = append(slices.Clone(cc.Middlewares), configmiddleware.Config{ID: id})
		client, err := c.ToClient(ctx, exts, set)
		if err != nil {
			return nil, err
		}
		client.Timeout = out.Timeout
		client.Transport = &markTargetHeaders{base: client.Transport}
		return client, nil
	}
	var err error
	if out.Live, err = build(false); err != nil {
		return Clients{}, fmt.Errorf("http client: %w", err)
	}
	if out.Dry, err = build(true); err != nil {
		return Clients{}, fmt.Errorf("http client: %w", err)
	}
	return out, nil
}

// auditMiddleware hands the recording transport to confighttp as a client
// middleware extension.
type auditMiddleware struct{ audit *RecordingTransport }

var _ extensionmiddleware.HTTPClient = auditMiddleware{}

func (auditMiddleware) Start(context.Context, component.Host) error { return nil }
func (auditMiddleware) Shutdown(context.Context) error              { return nil }

func (m auditMiddleware) GetHTTPRoundTripper(context.Context) (extensionmiddleware.WrapHTTPRoundTripperFunc, error) {
	return func(_ context.Context, base http.RoundTripper) (http.RoundTripper, error) {
		rt := *m.audit
		rt.Base = base
		return &rt, nil
	}, nil
}

type targetHeadersKey struct{}

// markTargetHeaders notes which headers the target itself set, so the
// recording transport beneath the client's own layers can tell them from
// those the client added.
type markTargetHeaders struct{ base http.RoundTripper }

func (m *markTargetHeaders) RoundTrip(req *http.Request) (*http.Response, error) {
	own := make(map[string]bool, len(req.Header))
	for k := range req.Header {
		own[http.CanonicalHeaderKey(k)] = true
	}
	return m.base.RoundTrip(req.WithContext(context.WithValue(req.Context(), targetHeadersKey{}, own)))
}

// notSecret are headers the client's own layers add that carry nothing
// secret: they are recorded as they are.
var notSecret = map[string]bool{"Content-Encoding": true, "Content-Length": true, "User-Agent": true,
	"Traceparent": true, "Tracestate": true, "Baggage": true, "Accept-Encoding": true}

// clientDefaults are the client settings a target starts from: the
// collector's defaults, with the target's default endpoint.
func clientDefaults(endpoint string) confighttp.ClientConfig {
	cc := confighttp.NewDefaultClientConfig()
	cc.Endpoint = endpoint
	return cc
}

// checkClient validates the client settings; urlKey names the target's own
// URL setting when it has one, so that endpoint is refused as unused.
func checkClient(cc *confighttp.ClientConfig, urlKey string) error {
	if urlKey != "" && cc.Endpoint != "" {
		return fmt.Errorf("endpoint: not used by this target type; its URL is %s", urlKey)
	}
	if err := cc.Validate(); err != nil {
		return err
	}
	return cc.Headers.Validate()
}
