package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

// TestMalformed checks the rejections: 400 naming the field and the rule,
// 415, 413, 405, and that none of them stores anything.
func TestMalformed(t *testing.T) {
	bin := e2etest.Binary(t)
	p := newPorts(t)
	startWithConfig(t, bin, "malformed.yaml", p) // max_request_body_size: 1024
	url := p.events("/v1/events")

	const valid = `"attributes":{"service.name":"cart","service.version":"v1.0.0","deployment.environment.name":"production"}`
	tests := []struct {
		name        string
		method      string
		body        string
		contentType string
		code        int
		field, rule string
		msg         string
	}{
		{"misspelt release key", "POST", `{"id":"bad-1","type":"started",` + valid + `,"release":{"stratgey":"canary"}}`, "application/json",
			400, "release.stratgey", "unmapped", "is not a field of the deploy event document"},
		{"unknown top-level key", "POST", `{"id":"bad-2","type":"started",` + valid + `,"service":"cart"}`, "application/json",
			400, "service", "unmapped", "is not a field of the deploy event document"},
		{"missing service.version", "POST", `{"id":"bad-3","type":"started","attributes":{"service.name":"cart","deployment.environment.name":"production"}}`, "application/json",
			400, "attributes.service.version", "required", "is required"},
		{"missing environment", "POST", `{"id":"bad-4","type":"started","attributes":{"service.name":"cart","service.version":"v1"}}`, "application/json",
			400, "attributes.deployment.environment.name", "required", "is required"},
		{"unknown type", "POST", `{"id":"bad-5","type":"deployed",` + valid + `}`, "application/json",
			400, "type", "enum", `"deployed" is not a deploy event type`},
		{"bad time", "POST", `{"id":"bad-6","type":"started","time":"yesterday",` + valid + `}`, "application/json",
			400, "time", "format", "is not an RFC 3339 timestamp"},
		{"far future", "POST", `{"id":"bad-7","type":"started","time":"2999-01-01T00:00:00Z",` + valid + `}`, "application/json",
			400, "time", "max_future_skew", "ahead of the receive time"},
		{"bad strategy", "POST", `{"id":"bad-8","type":"started",` + valid + `,"release":{"strategy":"yolo"}}`, "application/json",
			400, "release.strategy", "enum", `"yolo" is not a rollout strategy`},
		{"not JSON", "POST", `{"id":"bad-9",`, "application/json",
			400, "body", "syntax", "is not valid JSON"},
		{"wrong content type", "POST", `{"id":"bad-10","type":"started",` + valid + `}`, "text/plain",
			415, "header Content-Type", "media_type", `"text/plain" is not accepted here`},
		{"too large", "POST", `{"id":"bad-11","type":"started",` + valid + `,"release":{"intent":"` + strings.Repeat("x", 4096) + `"}}`, "application/json",
			413, "body", "max_request_body_size", "is larger than 1024 bytes"},
		{"latin-1 charset", "POST", `{"id":"bad-12","type":"started",` + valid + `}`, "application/json; charset=iso-8859-1",
			400, "header Content-Type", "charset", `charset "iso-8859-1" is not accepted`},
		{"invalid UTF-8", "POST", "{\"id\":\"bad-\xe9\",\"type\":\"started\"," + valid + `}`, "application/json",
			400, "body", "utf8", "is not valid UTF-8"},
		{"duplicate member", "POST", `{"id":"bad-14","type":"started","type":"succeeded",` + valid + `}`, "application/json",
			400, "type", "duplicate_key", "is given twice"},
		{"GET", "GET", "", "", 405, "method", "method", "GET is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			var headers []string
			if tt.contentType != "" {
				headers = []string{"Content-Type", tt.contentType}
			}
			resp := e2etest.Do(t, tt.method, url, body, headers...)
			requireRejected(t, resp, tt.code, tt.field, tt.rule, tt.msg)
			if tt.code == 405 {
				require.Equal(t, "POST", resp.Header.Get("Allow"))
			}
		})
	}

	t.Run("unknown path", func(t *testing.T) {
		resp := e2etest.PostJSON(t, p.events("/v1/jenkins"), []byte(`{}`))
		requireRejected(t, resp, 404, "path", "not_found", "no event source at /v1/jenkins")
		var got reply
		resp.JSON(t, &got)
		require.Equal(t, "path", got.Field)
		require.Equal(t, "not_found", got.Rule)
		require.Contains(t, got.Error, "no event source at /v1/jenkins")
	})

	t.Run("nothing stored", func(t *testing.T) {
		require.Equal(t, 0, listReleases(t, p.releasesURL()).Total)
	})

	t.Run("a valid event still goes through", func(t *testing.T) {
		requireReply(t, e2etest.PostJSON(t, url, []byte(`{"id":"good-1","type":"started",`+valid+`}`)), 202,
			accepted("good-1", "good-1", "in_progress"))
		require.Equal(t, 1, listReleases(t, p.releasesURL()).Total)
	})
}
