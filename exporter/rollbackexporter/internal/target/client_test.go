package target

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
)

// makeClientTarget builds a target and the Env it acts through with its own
// clients, built from its settings as the exporter builds them at Start
// (exts are the host's extensions).
func makeClientTarget[C any](t *testing.T, typ string, set func(*C), exts map[component.ID]component.Component, dryRun bool) (Target, Env) {
	t.Helper()
	f, ok := Lookup(typ)
	require.True(t, ok, typ)
	cfg := f.NewConfig().(*C)
	set(cfg)
	return clientTarget(t, f, cfg, exts, dryRun)
}

func clientTarget(t *testing.T, f Factory, cfg any, exts map[component.ID]component.Component, dryRun bool) (Target, Env) {
	t.Helper()
	require.NoError(t, cfg.(interface{ Validate() error }).Validate())
	tg, err := f.New(cfg)
	require.NoError(t, err)
	clients, err := NewClients(context.Background(), cfg.(ClientSettings).HTTPClientConfig(), exts, componenttest.NewNopTelemetrySettings(), 5*time.Second)
	require.NoError(t, err)
	env := testEnv(dryRun)
	env.HTTP = clients.Live
	if dryRun {
		env.HTTP = clients.Dry
	}
	return tg, env
}

// unmarshalTarget reads a target type's block as the collector would.
func unmarshalTarget(t *testing.T, typ string, block map[string]any) (Factory, any) {
	t.Helper()
	f, ok := Lookup(typ)
	require.True(t, ok, typ)
	cfg := f.NewConfig()
	require.NoError(t, confmap.NewFromStringMap(block).Unmarshal(cfg))
	return f, cfg
}

// privateCA is a certificate authority made for the test, and a server
// certificate for 127.0.0.1 and localhost that it signed.
type privateCA struct {
	caFile string
	server tls.Certificate
}

func newPrivateCA(t *testing.T) privateCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "otelcol-release test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "argocd.internal"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost", "argocd.internal"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	return privateCA{caFile: caFile, server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// startTLS starts an HTTPS server presenting the CA-signed certificate.
func (ca privateCA) startTLS(h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	s.StartTLS()
	return s
}

func TestArgoCDBehindAPrivateCA(t *testing.T) {
	ca := newPrivateCA(t)
	s := newServerOn(t, ca.startTLS, 200, argoCDApplication(t, nil), 200, `{}`)
	require.True(t, strings.HasPrefix(s.URL, "https://"))

	// As configured in YAML: the CA through tls::ca_file.
	f, cfg := unmarshalTarget(t, "argocd", map[string]any{
		"server": s.URL, "token": "argocd-token",
		"tls": map[string]any{"ca_file": ca.caFile},
	})
	tg, env := clientTarget(t, f, cfg, nil, false)
	ctx, rec := recCtx()
	summary, err := tg.Act(ctx, env, testAction())
	require.NoError(t, err)
	assert.Contains(t, summary, "rolled back Argo CD application checkout to history entry 12")
	require.Len(t, s.got(), 2)
	require.Len(t, rec.Requests, 2)
	assert.Equal(t, "POST", rec.Requests[1].Method)
	assert.Equal(t, s.URL+"/api/v1/applications/checkout/rollback", rec.Requests[1].URL)
	assert.Equal(t, "<redacted>", rec.Requests[1].Headers["Authorization"])
	assert.Equal(t, 200, rec.Requests[1].Status)

	// Without the CA the certificate is not trusted: a permanent failure
	// that says what to set, and nothing reached the server.
	f, cfg = unmarshalTarget(t, "argocd", map[string]any{"server": s.URL, "token": "argocd-token"})
	tg, env = clientTarget(t, f, cfg, nil, false)
	ctx, rec = recCtx()
	_, err = tg.Act(ctx, env, testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent), "retrying cannot make the certificate trusted: %v", err)
	assert.Contains(t, err.Error(), "TLS certificate is not trusted (set tls::ca_file")
	assert.Len(t, s.got(), 2, "nothing more reached the server")
	require.Len(t, rec.Requests, 1, "the attempted request is still in the audit trail")
	assert.Equal(t, "GET", rec.Requests[0].Method)
	assert.Zero(t, rec.Requests[0].Status)
}

// forwardProxy is a small real HTTP forward proxy: it takes absolute-form
// requests (GET http://host/path), sends them on, mapping the hosts in
// routes to real addresses, and remembers what it saw.
type forwardProxy struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newForwardProxy(t *testing.T, routes map[string]string) *forwardProxy {
	p := &forwardProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request: "+r.RequestURI, http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.seen = append(p.seen, r.Method+" "+r.URL.String()+" auth="+r.Header.Get("Authorization"))
		p.mu.Unlock()
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Connection")
		if addr, ok := routes[out.URL.Host]; ok {
			out.URL.Host = addr
		}
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *forwardProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func TestSpinnakerThroughAProxy(t *testing.T) {
	gate := newServer(t, 202, `{"ref":"/pipelines/01J"}`)
	// spinnaker-gate.internal resolves nowhere: only the proxy knows it.
	proxy := newForwardProxy(t, map[string]string{"spinnaker-gate.internal": strings.TrimPrefix(gate.URL, "http://")})
	f, cfg := unmarshalTarget(t, "spinnaker", map[string]any{
		"gate_url": "http://spinnaker-gate.internal/", "application": "{service.name}", "pipeline": "rollback",
		"proxy_url": proxy.URL,
		"headers":   map[string]any{"X-Spinnaker-Token": "gate-s3cret"},
	})
	tg, env := clientTarget(t, f, cfg, nil, false)
	ctx, rec := recCtx()
	summary, err := tg.Act(ctx, env, testAction())
	require.NoError(t, err)
	assert.Equal(t, "triggered Spinnaker pipeline rollback of application checkout (/pipelines/01J)", summary)
	assert.Equal(t, []string{"POST http://spinnaker-gate.internal/pipelines/checkout/rollback auth="}, proxy.requests())
	require.Len(t, gate.got(), 1)
	assert.Equal(t, "gate-s3cret", gate.got()[0].Header.Get("X-Spinnaker-Token"))
	require.Len(t, rec.Requests, 1)
	got := rec.Requests[0]
	assert.Equal(t, "POST", got.Method)
	assert.Equal(t, "http://spinnaker-gate.internal/pipelines/checkout/rollback", got.URL)
	assert.Equal(t, map[string]string{"Content-Type": "application/json", "X-Spinnaker-Token": "<redacted>"}, got.Headers)
	assert.Contains(t, got.Body, `"decision_id":"dec-deploy-4711-rollback"`)
	assert.Equal(t, 202, got.Status)
}

func TestClientSettingsValidation(t *testing.T) {
	assert.EqualError(t, validateErr("argocd", func(c *ArgoCDConfig) { c.Server = "https://argocd"; c.Endpoint = "https://x" }),
		"endpoint: not used by this target type; its URL is server")
	assert.EqualError(t, validateErr("spinnaker", func(c *SpinnakerConfig) { c.Endpoint = "https://x" }),
		"endpoint: not used by this target type; its URL is gate_url")
	_, cfg := unmarshalTarget(t, "webhook", map[string]any{"endpoint": "https://hooks", "timeout": "3s", "tls": map[string]any{"insecure_skip_verify": true}})
	wh := cfg.(*WebhookConfig)
	require.NoError(t, wh.Validate())
	assert.Equal(t, 3*time.Second, wh.Timeout)
	assert.True(t, wh.TLS.InsecureSkipVerify)
	// The target's own timeout wins over the exporter's.
	clients, err := NewClients(context.Background(), &wh.ClientConfig, nil, componenttest.NewNopTelemetrySettings(), 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, clients.Live.Timeout)
	assert.Equal(t, 3*time.Second, clients.Dry.Timeout)
	wh.Timeout = 0
	clients, err = NewClients(context.Background(), &wh.ClientConfig, nil, componenttest.NewNopTelemetrySettings(), 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, clients.Live.Timeout)
	// An auth extension that is not there fails at Start, naming it.
	_, cfg = unmarshalTarget(t, "webhook", map[string]any{"endpoint": "https://hooks", "auth": map[string]any{"authenticator": "bearertokenauth"}})
	_, err = NewClients(context.Background(), cfg.(ClientSettings).HTTPClientConfig(), map[component.ID]component.Component{}, componenttest.NewNopTelemetrySettings(), time.Second)
	require.ErrorContains(t, err, "bearertokenauth")
}
