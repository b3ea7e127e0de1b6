package target

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// The contract test for Kubernetes, which cannot run here: a fake API
// server answers as kube-apiserver does, reached through a kubeconfig as
// a user would configure it.

const (
	rolloutJSON = `{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout",` +
		`"metadata":{"name":"checkout","namespace":"shop","resourceVersion":"42"},"spec":{"paused":false},"status":{"abort":true}}`
	rolloutPath    = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout"
	mergePatchType = "application/merge-patch+json"
)

func k8sStatus(code int, reason, message string) string {
	return `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"` + message +
		`","reason":"` + reason + `","code":` + itoa(code) + `}`
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// apiServer is a fake kube-apiserver: newServer's recording handler
// behind TLS, since client-go sends credentials over TLS only.
type apiServer struct {
	*server
	tls *httptest.Server
	URL string
	ca  []byte
}

func newAPIServer(t *testing.T, answers ...any) *apiServer {
	t.Helper()
	rec := newServer(t, answers...)
	rec.Close()
	tls := httptest.NewTLSServer(rec.Config.Handler)
	t.Cleanup(tls.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tls.Certificate().Raw})
	return &apiServer{server: rec, tls: tls, URL: tls.URL, ca: ca}
}

// kubeconfig writes a kubeconfig for a server: context "fake" (the
// current one, namespace shop) and "other" (namespace payments).
func kubeconfig(t *testing.T, s *apiServer) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(`apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: `+s.URL+`
    certificate-authority-data: `+base64.StdEncoding.EncodeToString(s.ca)+`
users:
- name: collector
  user:
    token: k8s-token
contexts:
- name: fake
  context: {cluster: fake, user: collector, namespace: shop}
- name: other
  context: {cluster: fake, user: collector, namespace: payments}
current-context: fake
`), 0o600))
	return path
}

func rolloutsTarget(t *testing.T, server *apiServer, set func(*ArgoRolloutsConfig)) Target {
	return flagTarget(t, "argo_rollouts", func(c *ArgoRolloutsConfig) {
		c.Kubeconfig = kubeconfig(t, server)
		c.Namespace = "{service.namespace}"
		if set != nil {
			set(c)
		}
	})
}

func assertPatch(t *testing.T, r captured, path, body string) {
	t.Helper()
	assert.Equal(t, "PATCH", r.Method)
	assert.Equal(t, path, r.Path)
	assert.Equal(t, mergePatchType, r.Header.Get("Content-Type"))
	assert.Equal(t, "Bearer k8s-token", r.Header.Get("Authorization"))
	assert.Equal(t, body, string(r.Body))
}

func TestArgoRolloutsAbortsThroughTheStatusSubresource(t *testing.T) {
	s := newAPIServer(t, 200, rolloutJSON)
	rec := &Recorder{}
	summary, err := rolloutsTarget(t, s, nil).Act(WithRecorder(context.Background(), rec), testEnv(false), testAction())
	require.NoError(t, err)
	assert.Equal(t, "aborted Argo Rollout shop/checkout (status subresource)", summary)
	got := s.got()
	require.Len(t, got, 1)
	assertPatch(t, got[0], rolloutPath+"/status", `{"status":{"abort":true}}`)
	assert.Equal(t, "timeout=5s", got[0].Query, "the client's timeout, told to the server")

	require.Len(t, rec.Requests, 1, "recorded like any HTTP target")
	assert.Equal(t, "PATCH", rec.Requests[0].Method)
	assert.Equal(t, s.URL+rolloutPath+"/status?timeout=5s", rec.Requests[0].URL)
	assert.Equal(t, `{"status":{"abort":true}}`, rec.Requests[0].Body)
	assert.Equal(t, 200, rec.Requests[0].Status)
	assert.Equal(t, "<redacted>", rec.Requests[0].Headers["Authorization"], "client-go's credentials are redacted too")
}

func TestArgoRolloutsFallsBackToTheResourceWithoutAStatusSubresource(t *testing.T) {
	s := newAPIServer(t, 404, k8sStatus(404, "NotFound", "the server could not find the requested resource"), 200, rolloutJSON)
	summary, err := rolloutsTarget(t, s, nil).Act(context.Background(), testEnv(false), testAction())
	require.NoError(t, err)
	assert.Equal(t, "aborted Argo Rollout shop/checkout", summary)
	got := s.got()
	require.Len(t, got, 2)
	assertPatch(t, got[0], rolloutPath+"/status", `{"status":{"abort":true}}`)
	assertPatch(t, got[1], rolloutPath, `{"status":{"abort":true}}`)
}

func TestArgoRolloutsPauses(t *testing.T) {
	s := newAPIServer(t, 200, rolloutJSON)
	a := testAction()
	a.Decision.Action = release.ActionPause
	summary, err := rolloutsTarget(t, s, nil).Act(context.Background(), testEnv(false), a)
	require.NoError(t, err)
	assert.Equal(t, "paused Argo Rollout shop/checkout", summary)
	got := s.got()
	require.Len(t, got, 1)
	assertPatch(t, got[0], rolloutPath, `{"spec":{"paused":true}}`)

	a.Decision.Action = release.ActionFlagOff
	_, err = rolloutsTarget(t, s, nil).Act(context.Background(), testEnv(false), a)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Len(t, s.got(), 1)
}

func TestArgoRolloutsNamesAndContexts(t *testing.T) {
	f, _ := Lookup("argo_rollouts")
	assert.Equal(t, []release.Action{release.ActionRollback, release.ActionPause}, f.Actions)
	assert.Equal(t, "{service.name}", f.NewConfig().(*ArgoRolloutsConfig).Rollout)

	// No namespace configured: the context's.
	s := newAPIServer(t, 200, rolloutJSON)
	_, err := rolloutsTarget(t, s, func(c *ArgoRolloutsConfig) { c.Namespace = "" }).Act(context.Background(), testEnv(false), testAction())
	require.NoError(t, err)
	assert.Equal(t, rolloutPath+"/status", s.got()[0].Path)

	s = newAPIServer(t, 200, rolloutJSON)
	_, err = rolloutsTarget(t, s, func(c *ArgoRolloutsConfig) {
		c.Namespace, c.Context, c.Rollout = "", "other", "{service.name}-{deployment.environment.name}"
	}).Act(context.Background(), testEnv(false), testAction())
	require.NoError(t, err)
	assert.Equal(t, "/apis/argoproj.io/v1alpha1/namespaces/payments/rollouts/checkout-production/status", s.got()[0].Path)

	// A template the decision cannot fill is refused before any request.
	s = newAPIServer(t, 200, rolloutJSON)
	_, err = rolloutsTarget(t, s, func(c *ArgoRolloutsConfig) { c.Rollout = "{app}" }).Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Empty(t, s.got())

	// A kubeconfig that is not there: permanent.
	_, err = flagTarget(t, "argo_rollouts", func(c *ArgoRolloutsConfig) { c.Kubeconfig = filepath.Join(t.TempDir(), "nope") }).
		Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))

	assert.EqualError(t, (&ArgoRolloutsConfig{Rollout: "x", Context: "c"}).Validate(), "context: needs kubeconfig (in a cluster there are no contexts)")
	assert.EqualError(t, (&ArgoRolloutsConfig{}).Validate(), "rollout: required")
}

func TestArgoRolloutsErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		answers   []any
		permanent bool
		quote     string
		requests  int
	}{
		{"RBAC refuses", []any{403, k8sStatus(403, "Forbidden", `rollouts.argoproj.io \"checkout\" is forbidden: User \"collector\" cannot patch resource`)},
			true, `cannot patch resource`, 1},
		{"no such rollout", []any{404, k8sStatus(404, "NotFound", `rollouts.argoproj.io \"checkout\" not found`)},
			true, `rollouts.argoproj.io "checkout" not found`, 2},
		{"invalid", []any{422, k8sStatus(422, "Invalid", `Rollout.argoproj.io \"checkout\" is invalid: status.abort: Invalid value`)},
			true, "Invalid value", 1},
		{"server error", []any{500, k8sStatus(500, "InternalError", "etcdserver: leader changed")},
			false, "etcdserver: leader changed", 1},
		{"unavailable, plain text", []any{503, "upstream connect error"}, false, "", 1},
		{"throttled", []any{429, k8sStatus(429, "TooManyRequests", "storage is (re)initializing")}, false, "storage is (re)initializing", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAPIServer(t, tc.answers...)
			_, err := rolloutsTarget(t, s, nil).Act(context.Background(), testEnv(false), testAction())
			require.Error(t, err)
			assert.Equal(t, tc.permanent, errors.Is(err, ErrPermanent), err.Error())
			assert.Contains(t, err.Error(), tc.quote)
			assert.True(t, strings.Contains(err.Error(), "shop/checkout"), err.Error())
			assert.Len(t, s.got(), tc.requests)
		})
	}

	// Connection refused: transient.
	s := newAPIServer(t)
	s.tls.Close()
	_, err := rolloutsTarget(t, s, nil).Act(context.Background(), testEnv(false), testAction())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent))
}

func TestArgoRolloutsDryRunRecordsAndSendsNothing(t *testing.T) {
	s := newAPIServer(t, 500, "must not be called")
	rec := &Recorder{}
	summary, err := rolloutsTarget(t, s, nil).Act(WithRecorder(context.Background(), rec), testEnv(true), testAction())
	require.NoError(t, err)
	assert.Equal(t, "aborted Argo Rollout shop/checkout (status subresource)", summary)
	assert.Empty(t, s.got())
	require.Len(t, rec.Requests, 1)
	r := rec.Requests[0]
	assert.Equal(t, "PATCH", r.Method)
	assert.Equal(t, s.URL+rolloutPath+"/status?timeout=5s", r.URL)
	assert.Equal(t, mergePatchType, r.Headers["Content-Type"])
	assert.Equal(t, `{"status":{"abort":true}}`, r.Body)
	assert.Zero(t, r.Status)
}
