package e2etest

import (
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// OTLPSink is an OTLP/HTTP endpoint on 127.0.0.1 that keeps what it
// receives, a backend for an otlp_http exporter: point the exporter's
// endpoint at Endpoint(). It accepts POST /v1/traces, /v1/metrics and
// /v1/logs in protobuf (application/x-protobuf) and JSON
// (application/json), uncompressed, gzip or deflate.
type OTLPSink struct {
	srv *httptest.Server

	mu       sync.Mutex
	traces   []ptrace.Traces
	metrics  []pmetric.Metrics
	logs     []plog.Logs
	requests int
	errors   []string
}

// NewOTLPSink starts a sink, closed when the test ends.
func NewOTLPSink(t testing.TB) *OTLPSink {
	t.Helper()
	s := &OTLPSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.Close()
		if t.Failed() {
			t.Logf("OTLP sink: %d requests, errors: %v", s.Requests(), s.Errors())
		}
	})
	return s
}

// Endpoint is the base URL (http://127.0.0.1:port) for an otlp_http
// exporter's endpoint; the exporter appends /v1/<signal>.
func (s *OTLPSink) Endpoint() string { return s.srv.URL }

// LogsURL is the full URL of the logs endpoint.
func (s *OTLPSink) LogsURL() string { return s.srv.URL + "/v1/logs" }

func (s *OTLPSink) fail(w http.ResponseWriter, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.errors = append(s.errors, msg)
	s.mu.Unlock()
	http.Error(w, msg, code)
}

// otlpRequest is the export request of one signal, as the pdata OTLP
// packages define them.
type otlpRequest interface {
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
}

// otlpResponse is the matching export response.
type otlpResponse interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

func (s *OTLPSink) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	var req otlpRequest
	var resp otlpResponse
	var keep func()
	switch r.URL.Path {
	case "/v1/traces":
		tr := ptraceotlp.NewExportRequest()
		req, resp, keep = &tr, ptraceotlp.NewExportResponse(), func() { s.traces = append(s.traces, tr.Traces()) }
	case "/v1/metrics":
		mr := pmetricotlp.NewExportRequest()
		req, resp, keep = &mr, pmetricotlp.NewExportResponse(), func() { s.metrics = append(s.metrics, mr.Metrics()) }
	case "/v1/logs":
		lr := plogotlp.NewExportRequest()
		req, resp, keep = &lr, plogotlp.NewExportResponse(), func() { s.logs = append(s.logs, lr.Logs()) }
	default:
		s.fail(w, http.StatusNotFound, "no OTLP endpoint at %s", r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		s.fail(w, http.StatusMethodNotAllowed, "%s %s", r.Method, r.URL.Path)
		return
	}
	raw, code, msg := ReadBody(r)
	if code != 0 {
		s.fail(w, code, "%s", msg)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var out []byte
	var err error
	switch mt {
	case "application/x-protobuf":
		if err := req.UnmarshalProto(raw); err != nil {
			s.fail(w, http.StatusBadRequest, "protobuf: %v", err)
			return
		}
		out, err = resp.MarshalProto()
	case "application/json":
		if err := req.UnmarshalJSON(raw); err != nil {
			s.fail(w, http.StatusBadRequest, "json: %v", err)
			return
		}
		out, err = resp.MarshalJSON()
	default:
		s.fail(w, http.StatusUnsupportedMediaType, "Content-Type %q", r.Header.Get("Content-Type"))
		return
	}
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "encoding the answer: %v", err)
		return
	}
	s.mu.Lock()
	keep()
	s.mu.Unlock()
	w.Header().Set("Content-Type", mt)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// Requests is how many HTTP requests arrived (good or bad).
func (s *OTLPSink) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Errors lists the requests the sink refused and why.
func (s *OTLPSink) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errors...)
}

// Traces returns the received trace batches.
func (s *OTLPSink) Traces() []ptrace.Traces {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ptrace.Traces(nil), s.traces...)
}

// Metrics returns the received metric batches.
func (s *OTLPSink) Metrics() []pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pmetric.Metrics(nil), s.metrics...)
}

// Logs returns the received log batches.
func (s *OTLPSink) Logs() []plog.Logs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]plog.Logs(nil), s.logs...)
}

// Record is one received log record, flattened for assertions. Attribute
// values are as pcommon.Value.AsRaw returns them (string, int64, float64,
// bool, []any, map[string]any).
type Record struct {
	Resource          map[string]any
	Scope             string
	EventName         string
	SeverityText      string
	SeverityNumber    int32
	Body              string
	Attributes        map[string]any
	Timestamp         time.Time
	ObservedTimestamp time.Time
}

// Records returns every received record, in arrival order.
func (s *OTLPSink) Records() []Record {
	var out []Record
	for _, ld := range s.Logs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			res := rl.Resource().Attributes().AsRaw()
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				sl := rl.ScopeLogs().At(j)
				for k := 0; k < sl.LogRecords().Len(); k++ {
					lr := sl.LogRecords().At(k)
					out = append(out, Record{
						Resource:          res,
						Scope:             sl.Scope().Name(),
						EventName:         lr.EventName(),
						SeverityText:      lr.SeverityText(),
						SeverityNumber:    int32(lr.SeverityNumber()),
						Body:              bodyString(lr.Body()),
						Attributes:        lr.Attributes().AsRaw(),
						Timestamp:         lr.Timestamp().AsTime(),
						ObservedTimestamp: lr.ObservedTimestamp().AsTime(),
					})
				}
			}
		}
	}
	return out
}

func bodyString(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}

// WaitForRecord waits until a record matching match has arrived and
// returns it; after timeout it fails the test listing what did arrive.
func (s *OTLPSink) WaitForRecord(t testing.TB, timeout time.Duration, what string, match func(Record) bool) Record {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, r := range s.Records() {
			if match(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, r := range s.Records() {
				got = append(got, fmt.Sprintf("%s %v %q", r.EventName, r.Attributes, r.Body))
			}
			t.Fatalf("the OTLP sink received no %s within %s; it received %d records:\n%s\nsink errors: %v",
				what, timeout, len(got), strings.Join(got, "\n"), s.Errors())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ReadBody reads an OTLP/HTTP request's body, uncompressed (gzip, deflate
// or none). On failure it returns the HTTP status to answer and why.
func ReadBody(r *http.Request) (raw []byte, code int, msg string) {
	var body io.Reader = r.Body
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, http.StatusBadRequest, "gzip: " + err.Error()
		}
		defer zr.Close()
		body = zr
	case "deflate":
		zr, err := zlib.NewReader(r.Body)
		if err != nil {
			return nil, http.StatusBadRequest, "deflate: " + err.Error()
		}
		defer zr.Close()
		body = zr
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q is not supported by the test sink; configure compression none or gzip", enc)
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, http.StatusBadRequest, "reading body: " + err.Error()
	}
	return raw, 0, ""
}
