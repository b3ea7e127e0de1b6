package target

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// maxRecordedBody bounds what is kept of a body in the audit trail.
const maxRecordedBody = 8 << 10

// Do sends a JSON request and reads the answer. 2xx is success; 408, 429
// and 5xx are transient errors; other statuses are permanent errors that
// quote the target's answer. Transport errors (refused, timeout) are
// transient.
func Do(ctx context.Context, client *http.Client, method, url string, headers map[string]string, body any) (int, []byte, error) {
	var reader io.Reader
	var raw []byte
	if body != nil {
		switch b := body.(type) {
		case []byte:
			raw = b
		default:
			var err error
			if raw, err = json.Marshal(body); err != nil {
				return 0, nil, Permanent("encoding the request: %v", err)
			}
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, reader)
	if err != nil {
		return 0, nil, Permanent("building the request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		if untrusted(err) {
			// Retrying cannot make the certificate trusted.
			return 0, nil, Permanent("%s %s: the server's TLS certificate is not trusted (set tls::ca_file to the CA that signed it, or fix tls::server_name_override): %v", method, url, err)
		}
		return 0, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.StatusCode, answer, nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return resp.StatusCode, answer, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, clip(answer))
	default:
		return resp.StatusCode, answer, Permanent("%s %s: %d %s", method, url, resp.StatusCode, clip(answer))
	}
}

// untrusted tells a failed verification of the server's certificate.
func untrusted(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify)
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// Recorder keeps the requests of one action, for the audit trail.
type Recorder struct {
	mu       sync.Mutex
	Requests []release.RecordedRequest
}

type recorderKey struct{}

// WithRecorder attaches a recorder to a context.
func WithRecorder(ctx context.Context, r *Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

func recorderFrom(ctx context.Context) *Recorder {
	r, _ := ctx.Value(recorderKey{}).(*Recorder)
	return r
}

type redactionsKey struct{}

// WithRedactions asks the recording transport to replace each secret (a key)
// by the way it may be shown (its value) wherever it appears in a recorded
// request: URL, header values and body. Targets pass the credentials that
// travel outside the headers redacted by name (a secret webhook URL, a
// routing key in the body, custom auth headers).
func WithRedactions(ctx context.Context, redactions map[string]string) context.Context {
	merged := map[string]string{}
	if prev, ok := ctx.Value(redactionsKey{}).(map[string]string); ok {
		for k, v := range prev {
			merged[k] = v
		}
	}
	for k, v := range redactions {
		if k != "" {
			merged[k] = v
		}
	}
	return context.WithValue(ctx, redactionsKey{}, merged)
}

func redact(ctx context.Context, rec *release.RecordedRequest) {
	redactions, _ := ctx.Value(redactionsKey{}).(map[string]string)
	for secret, shown := range redactions {
		rec.URL = strings.ReplaceAll(rec.URL, secret, shown)
		rec.Body = strings.ReplaceAll(rec.Body, secret, shown)
		for k, v := range rec.Headers {
			rec.Headers[k] = strings.ReplaceAll(v, secret, shown)
		}
	}
}

// sensitive headers are redacted in the audit trail.
var sensitive = map[string]bool{"authorization": true, "private-token": true, "x-api-key": true, "cookie": true}

// RecordingTransport records every request into the context's Recorder.
// With DryRun set, requests other than GET and HEAD are answered 200 "{}"
// without being sent.
type RecordingTransport struct {
	Base   http.RoundTripper
	DryRun bool
	// redactAdded, set when the transport is the innermost layer of a
	// client built by NewClients, redacts the headers that the target did
	// not set itself (configured headers, the auth extension's), and their
	// values wherever they appear.
	redactAdded bool
}

// RoundTrip implements http.RoundTripper.
func (t *RecordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := release.RecordedRequest{Method: req.Method, URL: req.URL.String(), Headers: map[string]string{}}
	own, marked := req.Context().Value(targetHeadersKey{}).(map[string]bool)
	added := map[string]string{}
	for k, vs := range req.Header {
		v := strings.Join(vs, ",")
		switch {
		case t.redactAdded && marked && !own[http.CanonicalHeaderKey(k)] && !notSecret[http.CanonicalHeaderKey(k)]:
			for _, s := range vs {
				if len(s) >= 4 {
					added[s] = "<redacted>"
				}
				if _, tok, ok := strings.Cut(s, " "); ok && len(tok) >= 8 {
					added[tok] = "<redacted>" // the credential of "Scheme credential"
				}
			}
			v = "<redacted>"
		case sensitive[strings.ToLower(k)]:
			v = "<redacted>"
		}
		rec.Headers[k] = v
	}
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
		rec.Body = string(body[:min(len(body), maxRecordedBody)])
		if enc := req.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
			// The client compressed it (compression:): bytes, not text.
			rec.Body = fmt.Sprintf("<%d bytes, %s>", len(body), enc)
		}
	}
	ctx := req.Context()
	if len(added) > 0 {
		ctx = WithRedactions(ctx, added)
	}
	r := recorderFrom(req.Context())
	readOnly := req.Method == http.MethodGet || req.Method == http.MethodHead
	var resp *http.Response
	if t.DryRun && !readOnly {
		resp = &http.Response{StatusCode: http.StatusOK, Status: "200 OK (dry run)", Header: http.Header{},
			Body: io.NopCloser(strings.NewReader("{}")), Request: req}
	} else {
		base := t.Base
		if base == nil {
			base = http.DefaultTransport
		}
		var err error
		if resp, err = base.RoundTrip(req); err != nil {
			if r != nil {
				redact(ctx, &rec)
				r.add(rec)
			}
			return nil, err
		}
		rec.Status = resp.StatusCode
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(answer))
		rec.Response = string(answer[:min(len(answer), 2048)])
	}
	if r != nil {
		redact(ctx, &rec)
		r.add(rec)
	}
	return resp, nil
}

func (r *Recorder) add(rec release.RecordedRequest) {
	r.mu.Lock()
	r.Requests = append(r.Requests, rec)
	r.mu.Unlock()
}
