package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

// pipelineConfig is the collector the pipeline benchmark runs: OTLP/HTTP in,
// batch, nop out, with or without releasecorrelation; the release store and
// the release-metadata receiver are there in both, so that only the
// processor differs.
const pipelineConfig = `
extensions:%[5]s
  releasestore:
    endpoint: %[1]s
receivers:
  otlp:
    protocols:
      http:
        endpoint: %[2]s
  releasemetadata:
    endpoint: %[3]s
processors:
  batch: {}
  releasecorrelation:
    detection:
      breakdown: [http.route]
exporters:
  nop:
service:
  telemetry:
    metrics:
      level: none
  extensions: [releasestore%[6]s]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [%[4]s]
      exporters: [nop]
    logs:
      receivers: [releasemetadata]
      exporters: [nop]
`

// pipelineBatch is one OTLP export of 1,000 spans from a realistic mix:
// the canary service's candidate and control pods, a service with no
// release state, one without service.version; 2% of server spans fail, a
// fifth of the spans are client calls.
func pipelineBatch(r *rand.Rand) []byte {
	td := ptrace.NewTraces()
	resources := []struct{ service, version string }{
		{"checkout", "v1.4.2"}, {"checkout", "v1.4.1"}, {"checkout", "v1.4.1"}, {"checkout", "v1.4.1"},
		{"cart", "v7.0.0"}, {"cart", "v7.0.0"}, {"search", "v3.1.0"}, {"payments", "2026.11.3"},
		{"ads", "v0.9.1"}, {"recommendations", ""},
	}
	now := pcommon.NewTimestampFromTime(time.Now())
	routes := []string{"/cart", "/cart/checkout", "/search", "/product/{id}", "/"}
	for i, res := range resources {
		rs := td.ResourceSpans().AppendEmpty()
		attrs := rs.Resource().Attributes()
		attrs.PutStr("service.name", res.service)
		attrs.PutStr("service.namespace", "shop")
		attrs.PutStr("deployment.environment.name", "production")
		if res.version != "" {
			attrs.PutStr("service.version", res.version)
		}
		attrs.PutStr("k8s.pod.name", fmt.Sprintf("%s-7d9f8b6c%d-x2k4p", res.service, i))
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for s := 0; s < 100; s++ {
			sp := spans.AppendEmpty()
			var tid pcommon.TraceID
			var sid pcommon.SpanID
			for j := range tid {
				tid[j] = byte(r.IntN(256))
			}
			for j := range sid {
				sid[j] = byte(r.IntN(256))
			}
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			sp.SetStartTimestamp(now - pcommon.Timestamp(r.IntN(200_000_000)))
			sp.SetEndTimestamp(now)
			if r.IntN(5) == 0 {
				sp.SetName("GET")
				sp.SetKind(ptrace.SpanKindClient)
				sp.Attributes().PutStr("peer.service", "inventory")
				continue
			}
			route := routes[r.IntN(len(routes))]
			sp.SetName("GET " + route)
			sp.SetKind(ptrace.SpanKindServer)
			sp.Attributes().PutStr("http.route", route)
			code := int64(200)
			if r.IntN(50) == 0 {
				code = 503
			}
			sp.Attributes().PutInt("http.response.status_code", code)
		}
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return body
}

// pipelineBatches is 32 pipelineBatch exports from a seeded source: a
// benchmark cycles through them, a fresh batch per send.
func pipelineBatches(seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	bodies := make([][]byte, 32)
	for i := range bodies {
		bodies[i] = pipelineBatch(r)
	}
	return bodies
}

// processCPU is the user and system CPU a process has used so far.
func processCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(b, err)
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	require.NoError(b, err1)
	require.NoError(b, err2)
	// Clock ticks of 10 ms (USER_HZ is 100 on Linux).
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// BenchmarkPipelineCPUPerSpan measures the whole collector process's CPU per
// span, the built binary receiving OTLP/HTTP exports of 1,000 spans: a
// pass-through pipeline (batch, nop) against the same pipeline with
// releasecorrelation stamping and detecting, a canary under way. The sender
// is this process, so its CPU is not counted. Run with a fixed count, e.g.
// -benchtime=3000x (the process's CPU is read in 10 ms ticks).
func BenchmarkPipelineCPUPerSpan(b *testing.B) {
	bin := e2etest.Binary(b)
	bodies := pipelineBatches(3)
	for _, processors := range []string{"batch", "releasecorrelation, batch"} {
		name := "passthrough"
		if strings.Contains(processors, "releasecorrelation") {
			name = "releasecorrelation"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			api, otlp, events := e2etest.FreeAddr(b), e2etest.FreeAddr(b), e2etest.FreeAddr(b)
			cfg := filepath.Join(dir, "pipeline.yaml")
			// OTELCOL_RELEASE_PPROF=host:port serves the collector's
			// profiles while it runs, to see where its CPU goes.
			pprofExt, pprofID := "", ""
			if addr := os.Getenv("OTELCOL_RELEASE_PPROF"); addr != "" {
				pprofExt, pprofID = "\n  pprof:\n    endpoint: "+addr, ", pprof"
			}
			require.NoError(b, os.WriteFile(cfg, []byte(fmt.Sprintf(pipelineConfig, api, otlp, events, processors, pprofExt, pprofID)), 0o600))
			p := e2etest.Start(b, bin, e2etest.Options{Dir: dir, Args: []string{"--config", cfg}, Env: isolatedEnv(dir)})
			p.RequireReady(startTimeout, "http://"+api+"/api/v1/releases")
			p.RequireListening(startTimeout, otlp, events)
			resp := e2etest.PostJSON(b, "http://"+events+"/v1/events", []byte(`{"id":"deploy-bench","type":"started",
			  "attributes":{"service.name":"checkout","service.namespace":"shop","service.version":"v1.4.2","deployment.environment.name":"production"},
			  "release":{"previous_version":"v1.4.1","strategy":"canary","rollout_percentage":25}}`))
			require.Equal(b, 202, resp.Status)
			send := func(i int) {
				resp := e2etest.Do(b, "POST", "http://"+otlp+"/v1/traces", bodies[i%len(bodies)], "Content-Type", "application/x-protobuf")
				if resp.Status != 200 {
					b.Fatalf("OTLP export answered %d: %s", resp.Status, resp.Body)
				}
			}
			for i := 0; i < 200; i++ {
				send(i)
			}
			before := processCPU(b, p.Pid())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				send(i)
			}
			b.StopTimer()
			cpu := processCPU(b, p.Pid()) - before
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*1000), "cpu-ns/span")
		})
	}
}
