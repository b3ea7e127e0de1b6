package releasemetadatareceiver

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func TestDoorRefusesWhatJSONWouldSilentlyChange(t *testing.T) {
	h := startHarness(t, nil, nil)
	good := string(nativeEvent("deploy-door", "started", "v1.4.2"))
	tests := []struct {
		name, contentType, body, field, rule string
	}{
		{"latin-1 charset", "application/json; charset=ISO-8859-1", good, "header Content-Type", release.RuleCharset},
		{"invalid UTF-8", "application/json", strings.Replace(good, "checkout", "check\xffout", 1), "body", release.RuleUTF8},
		{"duplicate member", "application/json", strings.Replace(good, `"id":"deploy-door"`, `"id":"deploy-door","id":"deploy-other"`, 1), "id", release.RuleDuplicateKey},
		{"nested duplicate member", "application/json", strings.Replace(good, `"service.version":"v1.4.2"`, `"service.version":"v1.4.2","service.version":"v9"`, 1), "attributes.service.version", release.RuleDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.post(t, "/v1/events", tt.contentType, []byte(tt.body), nil)
			require.Equal(t, http.StatusBadRequest, a.code, a.body)
			assert.Equal(t, tt.field, a.body["field"])
			assert.Equal(t, tt.rule, a.body["rule"])
		})
	}
	a := h.post(t, "/v1/events", "application/json; charset=UTF-8", []byte(good), nil)
	require.Equal(t, http.StatusAccepted, a.code, a.body)
}

func TestUnreadableOptionalFieldIsDroppedWithAWarning(t *testing.T) {
	h := startHarness(t, nil, nil)
	body, err := os.ReadFile("internal/source/testdata/gitlab/deployment_success.json")
	require.NoError(t, err)
	body = []byte(strings.Replace(string(body), `"status_changed_at":`, `"status_changed_at": 20210428, "x":`, 1))
	a := h.post(t, "/v1/gitlab", "application/json", body, map[string]string{"X-Gitlab-Event": "Deployment Hook"})
	require.Equal(t, http.StatusAccepted, a.code, a.body)
	warnings, ok := a.body["warnings"].([]any)
	require.True(t, ok, "reply has warnings: %v", a.body)
	require.Len(t, warnings, 1)
	w := warnings[0].(map[string]any)
	assert.Equal(t, "status_changed_at", w["field"])
	assert.Equal(t, release.RuleType, w["rule"])
	assert.NotEmpty(t, w["error"])

	events := a.body["events"].([]any)
	id := events[0].(map[string]any)["deployment_id"].(string)
	r, ok := h.store.Release(id)
	require.True(t, ok, "the event was stored")
	assert.Equal(t, release.StatusSucceeded, r.Status)

	m, err := h.tel.GetMetric("otelcol.releasemetadata.dropped_fields")
	require.NoError(t, err)
	sum := m.Data.(metricdata.Sum[int64])
	require.Len(t, sum.DataPoints, 1)
	src, _ := sum.DataPoints[0].Attributes.Value("source")
	rule, _ := sum.DataPoints[0].Attributes.Value("rule")
	assert.Equal(t, "gitlab", src.AsString())
	assert.Equal(t, release.RuleType, rule.AsString())
	assert.Equal(t, int64(1), sum.DataPoints[0].Value)
}
