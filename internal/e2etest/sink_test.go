package e2etest

import (
	"bytes"
	"compress/gzip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func testLogs(body string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("test")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetEventName("release.deployment")
	lr.Body().SetStr(body)
	lr.Attributes().PutStr("deployment.id", "d-1")
	lr.Attributes().PutDouble("release.rollout.percentage", 10)
	return ld
}

// The sink decodes what an OTLP/HTTP exporter sends, in every encoding the
// tests configure, and refuses what it cannot read.
func TestOTLPSink(t *testing.T) {
	sink := NewOTLPSink(t)
	req := plogotlp.NewExportRequestFromLogs(testLogs("protobuf"))
	pb, err := req.MarshalProto()
	require.NoError(t, err)
	resp := Do(t, "POST", sink.LogsURL(), pb, "Content-Type", "application/x-protobuf")
	require.Equal(t, 200, resp.Status)
	require.NoError(t, plogotlp.NewExportResponse().UnmarshalProto(resp.Body))

	js, err := plogotlp.NewExportRequestFromLogs(testLogs("json")).MarshalJSON()
	require.NoError(t, err)
	require.Equal(t, 200, Do(t, "POST", sink.LogsURL(), js, "Content-Type", "application/json").Status)

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(pb)
	require.NoError(t, zw.Close())
	require.Equal(t, 200, Do(t, "POST", sink.LogsURL(), gz.Bytes(), "Content-Type", "application/x-protobuf", "Content-Encoding", "gzip").Status)

	require.Equal(t, 415, Do(t, "POST", sink.LogsURL(), pb, "Content-Type", "text/plain").Status)
	require.Equal(t, 415, Do(t, "POST", sink.LogsURL(), pb, "Content-Type", "application/x-protobuf", "Content-Encoding", "br").Status)
	require.Equal(t, 400, Do(t, "POST", sink.LogsURL(), []byte("not protobuf"), "Content-Type", "application/x-protobuf").Status)
	require.Equal(t, 404, Do(t, "POST", sink.Endpoint()+"/v1/profiles", pb, "Content-Type", "application/x-protobuf").Status)
	require.Equal(t, 405, Get(t, sink.LogsURL()).Status)

	records := sink.Records()
	require.Len(t, records, 3)
	var bodies []string
	for _, r := range records {
		bodies = append(bodies, r.Body)
		require.Equal(t, map[string]any{"service.name": "checkout"}, r.Resource)
		require.Equal(t, map[string]any{"deployment.id": "d-1", "release.rollout.percentage": 10.0}, r.Attributes)
		require.Equal(t, "release.deployment", r.EventName)
		require.Equal(t, "test", r.Scope)
	}
	require.Equal(t, []string{"protobuf", "json", "protobuf"}, bodies)
	require.Equal(t, 8, sink.Requests())
	require.Len(t, sink.Errors(), 5)

	got := sink.WaitForRecord(t, time.Second, "json record", func(r Record) bool { return r.Body == "json" })
	require.Equal(t, "d-1", got.Attributes["deployment.id"])

	// Traces and metrics, kept apart from the logs.
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("GET /cart")
	tb, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	require.Equal(t, 200, Do(t, "POST", sink.Endpoint()+"/v1/traces", tb, "Content-Type", "application/x-protobuf").Status)
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetName("requests")
	mb, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalJSON()
	require.NoError(t, err)
	require.Equal(t, 200, Do(t, "POST", sink.Endpoint()+"/v1/metrics", mb, "Content-Type", "application/json").Status)
	require.Len(t, sink.Traces(), 1)
	require.Equal(t, "GET /cart", sink.Traces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Name())
	require.Len(t, sink.Metrics(), 1)
	require.Equal(t, "requests", sink.Metrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Name())
	require.Len(t, sink.Logs(), 3)
}

func TestFreePortIsFreeAndUnique(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		require.False(t, seen[p], "port %d handed out twice", p)
		seen[p] = true
	}
	RequirePortsFree(t, FreePort(t))
}

func TestWriteConfig(t *testing.T) {
	dir := t.TempDir()
	path := WriteConfig(t, dir, "c.yaml", "endpoint: {{.Addr}}\n", map[string]string{"Addr": "127.0.0.1:1"})
	require.FileExists(t, path)
	res := Run(t, "/bin/cat", Options{Args: []string{path}}, 0)
	require.Equal(t, 0, res.ExitCode)
	require.Equal(t, "endpoint: 127.0.0.1:1\n", res.Stdout)
}

func TestProcessStopAndKill(t *testing.T) {
	p := Start(t, "/bin/sh", Options{Args: []string{"-c", "echo ready; trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done"}})
	require.NoError(t, p.WaitForOutput("ready", 5*time.Second))
	require.NoError(t, p.Stop())
	require.Equal(t, 0, p.ExitCode())
	require.Contains(t, p.Output(), "bye")

	k := Start(t, "/bin/sh", Options{Args: []string{"-c", "echo ready; trap '' TERM; while :; do sleep 0.05; done"}})
	require.NoError(t, k.WaitForOutput("ready", 5*time.Second))
	k.Kill()
	require.True(t, k.Exited())
	require.Equal(t, -1, k.ExitCode())
}
