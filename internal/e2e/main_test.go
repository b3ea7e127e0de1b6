// Package e2e holds the end-to-end tests of the otelcol-release
// distribution: they build (or take from $OTELCOL_RELEASE_BINARY) the real
// binary, start it as a user would, post deploy events over HTTP and check
// the answers, the release API, the process output and what an OTLP/HTTP
// log sink receives. They are skipped under -short.
//
// The tests do not run in parallel: the no-flags test holds the fixed
// default ports (4317, 4318, 8088, 8089, 13133, and 8888 for the
// collector's own metrics); every other test uses free ports on 127.0.0.1
// and turns the collector's own metrics off.
package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

func TestMain(m *testing.M) { e2etest.Main(m) }

const (
	startTimeout = 60 * time.Second
	waitTimeout  = 15 * time.Second
)

// sampleDate is the day the sample payloads in the source testdata are
// timestamped with.
const sampleDate = "2026-11-24"

// samplePayload reads a sample delivery from the receiver's source
// testdata (receiver/releasemetadatareceiver/internal/source/testdata) and
// moves its timestamps two days into the past, so that the receiver's
// max_future_skew gate accepts them whatever today's date is.
func samplePayload(t *testing.T, name string) []byte {
	t.Helper()
	path := filepath.Join(e2etest.MustModuleRoot(t), "receiver", "releasemetadatareceiver", "internal", "source", "testdata", name)
	raw, err := os.ReadFile(path)
	require.NoError(t, err, "sample payload %s (written with the source parsers)", name)
	require.Contains(t, string(raw), sampleDate, "sample payload %s is expected to be timestamped %s", name, sampleDate)
	return []byte(strings.ReplaceAll(string(raw), sampleDate, shiftedDate()))
}

// shiftedDate is the date sample payloads are moved to: two days ago.
func shiftedDate() string { return time.Now().UTC().AddDate(0, 0, -2).Format("2006-01-02") }

// testdataPath is a file under internal/e2e/testdata.
func testdataPath(name string) string { return filepath.Join("testdata", name) }

// fluxID is the id the Flux source gives a delivery: "flux-" and the first
// 32 hex digits of the SHA-256 of the body.
func fluxID(body []byte) string {
	sum := sha256.Sum256(body)
	return "flux-" + hex.EncodeToString(sum[:])[:32]
}

// ports are the free addresses a config template is rendered with.
type ports struct {
	EventsAddr string // the releasemetadata receiver
	APIAddr    string // the releasestore API
	DataDir    string // file_storage directory
	SinkURL    string // the OTLP/HTTP log sink
}

func newPorts(t *testing.T) ports {
	return ports{EventsAddr: e2etest.FreeAddr(t), APIAddr: e2etest.FreeAddr(t), DataDir: t.TempDir()}
}

func (p ports) events(path string) string   { return "http://" + p.EventsAddr + path }
func (p ports) api(path string) string      { return "http://" + p.APIAddr + path }
func (p ports) releasesURL() string         { return p.api("/api/v1/releases") }
func (p ports) releaseURL(id string) string { return p.api("/api/v1/releases/" + id) }

// startWithConfig renders testdata/<tmpl> with p, starts the binary on it
// (plus extra args) and waits for the API and the receiver.
func startWithConfig(t *testing.T, bin, tmpl string, p ports, extra ...string) (*e2etest.Process, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := e2etest.RenderConfig(t, dir, testdataPath(tmpl), p)
	proc := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Args: append([]string{"--config", cfg}, extra...), Env: isolatedEnv(dir)})
	proc.RequireReady(startTimeout, p.releasesURL())
	proc.RequireListening(startTimeout, p.EventsAddr)
	return proc, cfg
}

// isolatedEnv keeps a started collector away from the user's home and
// state directories.
func isolatedEnv(dir string) []string {
	return []string{"HOME=" + dir, "XDG_STATE_HOME=" + filepath.Join(dir, "xdg-state"), "OTELCOL_RELEASE_DATA_DIR=" + filepath.Join(dir, "data")}
}

// reply is the JSON answer of the receiver to a delivery.
type reply struct {
	Status string       `json:"status"`
	Reason string       `json:"reason,omitempty"`
	Events []replyEvent `json:"events,omitempty"`
	Error  string       `json:"error,omitempty"`
	Field  string       `json:"field,omitempty"`
	Rule   string       `json:"rule,omitempty"`
}

type replyEvent struct {
	ID           string `json:"id"`
	DeploymentID string `json:"deployment_id"`
	Outcome      string `json:"outcome"`
	Status       string `json:"status,omitempty"`
}

func accepted(id, deploymentID, status string) reply {
	return reply{Status: "accepted", Events: []replyEvent{{ID: id, DeploymentID: deploymentID, Outcome: "accepted", Status: status}}}
}

func duplicate(id, deploymentID string) reply {
	return reply{Status: "duplicate", Events: []replyEvent{{ID: id, DeploymentID: deploymentID, Outcome: "duplicate"}}}
}

// requireReply checks the status code and the whole JSON answer.
func requireReply(t *testing.T, resp *e2etest.Response, code int, want reply) {
	t.Helper()
	require.Equalf(t, code, resp.Status, "answer: %s", resp.Body)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var got reply
	resp.JSON(t, &got)
	require.Equalf(t, want, got, "answer: %s", resp.Body)
}

// requireRejected checks a 4xx answer naming a field and a rule, with an
// error message containing msg.
func requireRejected(t *testing.T, resp *e2etest.Response, code int, field, rule, msg string) {
	t.Helper()
	require.Equalf(t, code, resp.Status, "answer: %s", resp.Body)
	var got reply
	resp.JSON(t, &got)
	require.Equalf(t, "rejected", got.Status, "answer: %s", resp.Body)
	require.Equalf(t, field, got.Field, "answer: %s", resp.Body)
	require.Equalf(t, rule, got.Rule, "answer: %s", resp.Body)
	require.Containsf(t, got.Error, msg, "answer: %s", resp.Body)
	require.Empty(t, got.Events)
}

// apiRelease is a release as GET /api/v1/releases/{id} returns it.
type apiRelease struct {
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Attributes  map[string]string `json:"attributes"`
	Release     map[string]any    `json:"release"`
	Source      string            `json:"source"`
	StartedAt   time.Time         `json:"started_at"`
	Events      []apiEventRef     `json:"events"`
	Annotations []map[string]any  `json:"annotations"`
}

type apiEventRef struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Source string `json:"source"`
}

type apiReleaseList struct {
	Releases []apiRelease `json:"releases"`
	Total    int          `json:"total"`
}

func getRelease(t *testing.T, url string) apiRelease {
	t.Helper()
	resp := e2etest.Get(t, url)
	require.Equalf(t, 200, resp.Status, "GET %s: %s", url, resp.Body)
	var r apiRelease
	resp.JSON(t, &r)
	return r
}

func listReleases(t *testing.T, url string) apiReleaseList {
	t.Helper()
	resp := e2etest.Get(t, url)
	require.Equalf(t, 200, resp.Status, "GET %s: %s", url, resp.Body)
	var l apiReleaseList
	resp.JSON(t, &l)
	require.Len(t, l.Releases, min(l.Total, 100), "page of %s", url)
	return l
}

// identity is what a release read back must say about itself.
type identity struct {
	service, namespace, version, environment string
}

func requireIdentity(t *testing.T, r apiRelease, want identity) {
	t.Helper()
	got := identity{
		service: r.Attributes["service.name"], namespace: r.Attributes["service.namespace"],
		version: r.Attributes["service.version"], environment: r.Attributes["deployment.environment.name"],
	}
	require.Equalf(t, want, got, "release %s attributes %v", r.ID, r.Attributes)
	require.Equalf(t, r.ID, r.Attributes["deployment.id"], "release %s attributes %v", r.ID, r.Attributes)
}

// nativeEvent is a native deploy-event document.
func nativeEvent(id, typ, service, version, env string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"type":%q,"attributes":{"service.name":%q,"service.version":%q,"deployment.environment.name":%q}}`,
		id, typ, service, version, env))
}
