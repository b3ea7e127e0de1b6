package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// writeRecording writes what a recording made with the file exporter holds:
// 4 minutes of checkout's spans as OTLP JSON lines (one request per second;
// v1.4.2 canary from minute 2, failing 20% of requests vs 1%), and the two
// deploy events as native JSON lines.
func writeRecording(t *testing.T) (telemetry, events string) {
	return writeRecordingTo(t, t.TempDir())
}

func writeRecordingTo(t *testing.T, dir string) (telemetry, events string) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(1, 2))
	var lines bytes.Buffer
	for sec := 0; sec < 240; sec++ {
		td := ptrace.NewTraces()
		emit := func(version string, n int, errorRate float64) {
			rs := td.ResourceSpans().AppendEmpty()
			a := rs.Resource().Attributes()
			a.PutStr("service.name", "checkout")
			a.PutStr("service.namespace", "shop")
			a.PutStr("service.version", version)
			a.PutStr("deployment.environment.name", "production")
			ss := rs.ScopeSpans().AppendEmpty().Spans()
			end := start.Add(time.Duration(sec) * time.Second)
			for i := 0; i < n; i++ {
				sp := ss.AppendEmpty()
				sp.SetKind(ptrace.SpanKindServer)
				sp.SetTraceID(pcommon.TraceID{byte(sec >> 8), byte(sec), byte(i), 1})
				sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-30 * time.Millisecond)))
				sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
				code := int64(200)
				if r.Float64() < errorRate {
					code = 503
				}
				sp.Attributes().PutInt("http.response.status_code", code)
			}
		}
		emit("v1.4.1", 80, 0.01)
		if sec >= 120 {
			emit("v1.4.2", 20, 0.2)
		}
		raw, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		lines.Write(raw)
		lines.WriteByte('\n')
	}
	telemetry = filepath.Join(dir, "traces.jsonl.gz")
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	require.NoError(t, err)
	_, err = zw.Write(lines.Bytes())
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(telemetry, gz.Bytes(), 0o644))
	events = filepath.Join(dir, "events.jsonl")
	require.NoError(t, os.WriteFile(events, []byte(strings.Join([]string{
		`{"id":"checkout-v1","type":"succeeded","time":"2026-11-24T10:00:00Z","attributes":{"service.name":"checkout","service.namespace":"shop","service.version":"v1.4.1","deployment.environment.name":"production"}}`,
		`{"id":"deploy-4711","type":"started","time":"2026-11-24T10:02:00Z","attributes":{"service.name":"checkout","service.namespace":"shop","service.version":"v1.4.2","deployment.environment.name":"prod"},"release":{"previous_version":"v1.4.1","strategy":"canary"}}`,
	}, "\n")+"\n"), 0o644))
	return telemetry, events
}

// replayResolverSettings are the resolver settings newCommand gives
// replay: the distribution's providers (the remote ones left out, the tests
// run offline) and its default scheme.
func replayResolverSettings(t *testing.T) confmap.ResolverSettings {
	rs := testSettings(t).ConfigProviderSettings.ResolverSettings
	rs.DefaultScheme = "env"
	return rs
}

func runReplay(t *testing.T, args ...string) (string, error) {
	t.Setenv(dataDirEnv, t.TempDir())
	cmd := newCommand(testSettings(t))
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"replay"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestReplayDecidesOnARecording(t *testing.T) {
	telemetry, events := writeRecording(t)
	out, err := runReplay(t, "--telemetry", telemetry, "--events", events, "--format", "json")
	require.NoError(t, err, out)
	var res struct {
		Decisions []*release.Decision `json:"decisions"`
		Recording struct{ Spans, Events int }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.Equal(t, 240*80+120*20, res.Recording.Spans)
	var rollback *release.Decision
	for _, d := range res.Decisions {
		if d.Action == release.ActionRollback {
			rollback = d
		}
	}
	require.NotNil(t, rollback, "decisions: %s", out)
	assert.Equal(t, "deploy-4711", rollback.ReleaseID())
	assert.Equal(t, release.CauseEndogenous, rollback.Cause)
	took := rollback.DecidedAt.Sub(time.Date(2026, 11, 24, 10, 2, 0, 0, time.UTC))
	assert.Less(t, took, time.Minute, "decided %s after the deploy, on the recording's clock", took)

	// The same recording under other settings: too few samples ever -> hold.
	out, err = runReplay(t, "--telemetry", telemetry, "--events", events, "--set", "detection::min_samples=100000", "--set", "detection::hold_after=30s")
	require.NoError(t, err, out)
	assert.Contains(t, out, "deploy-4711")
	assert.Contains(t, out, " hold ")
	assert.NotContains(t, out, "rollback")

	// Labels score the decisions.
	labels := filepath.Join(t.TempDir(), "labels.jsonl")
	require.NoError(t, os.WriteFile(labels, []byte(`{"deployment.id":"deploy-4711","label":"regression"}`+"\n"), 0o600))
	out, err = runReplay(t, "--telemetry", telemetry, "--events", events, "--labels", labels)
	require.NoError(t, err, out)
	assert.Regexp(t, `regression\s+1\s+1\s+1\s+0\s+\d+s`, out)
	fmt.Println(out)

	// Or annotations exported from the store: an engineer called it a
	// false alarm, so the rollback counts as a false action.
	export := filepath.Join(t.TempDir(), "releases.json")
	require.NoError(t, os.WriteFile(export, []byte(`{"releases":[{"id":"deploy-4711","status":"rolled_back","attributes":{},"release":{},
	  "source":"native","started_at":"2026-11-24T10:02:00Z","updated_at":"2026-11-24T10:02:00Z","events":[],
	  "annotations":[{"id":"a1","release_id":"deploy-4711","label":"false_alarm","text":"load test","created_at":"2026-11-24T11:00:00Z"}]}],"total":1}`), 0o600))
	out, err = runReplay(t, "--telemetry", telemetry, "--events", events, "--labels", export)
	require.NoError(t, err, out)
	assert.Regexp(t, `healthy\s+1\s+1\s+1\s+1\s+\d+s`, out)
}

// TestDocumentedRecordingReplays keeps the README's "tuning with replay"
// walkthrough true: the committed recording (testdata/replay, written by
// this generator with UPDATE_RECORDING=1) replays to the decision shown
// there, and a stricter setting to the hold shown there.
func TestDocumentedRecordingReplays(t *testing.T) {
	dir := filepath.Join("testdata", "replay")
	if os.Getenv("UPDATE_RECORDING") == "1" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		writeRecordingTo(t, dir)
	}
	telemetry, events := filepath.Join(dir, "traces.jsonl.gz"), filepath.Join(dir, "events.jsonl")
	out, err := runReplay(t, "--telemetry", telemetry, "--events", events)
	require.NoError(t, err, out)
	assert.Contains(t, out, "replayed 21600 spans, 0 log records, 0 data points and 2 deploy events")
	assert.Regexp(t, `2026-11-24T10:02:\d\dZ \+\d\ds\s+deploy-4711\s+rollback regression\s+endogenous 0\.9999`, out)
	out, err = runReplay(t, "--telemetry", telemetry, "--events", events, "--set", "detection::min_absolute_effect=0.5")
	require.NoError(t, err, out)
	assert.NotContains(t, out, "rollback", "an increase of 19 points is not material when 50 are required: no action")
	fmt.Println(out)
}

func TestReplayRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("{\"nope\":1}\n"), 0o600))
	_, err := runReplay(t, "--telemetry", bad)
	require.ErrorContains(t, err, "bad.jsonl:1: not an OTLP JSON request")
	_, err = runReplay(t, "--set", "detection::min_samples")
	require.ErrorContains(t, err, "want key=value")
	_, err = runReplay(t, "--set", "detection::interval=0s")
	require.ErrorContains(t, err, "detection::interval: must be greater than zero")
}

// TestReplayConfigIsResolvedAsTheCollectorDoes: --config goes through the
// collector's resolver (${env:...}, file: and yaml: URIs), and a whole
// collector config's processor is picked deterministically.
func TestReplayConfigIsResolvedAsTheCollectorDoes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	ctx := context.Background()
	rs := replayResolverSettings(t)

	// Processor settings alone, with ${env:...}.
	t.Setenv("REPLAY_MIN_SAMPLES", "77")
	single := write("proc.yaml", "detection:\n  min_samples: ${env:REPLAY_MIN_SAMPLES}\n")
	cfg, err := replayConfig(ctx, rs, single, "", nil)
	require.NoError(t, err)
	assert.EqualValues(t, 77, cfg.Detection.MinSamples)
	cfg, err = replayConfig(ctx, rs, "file:"+single, "", nil)
	require.NoError(t, err)
	assert.EqualValues(t, 77, cfg.Detection.MinSamples)
	cfg, err = replayConfig(ctx, rs, "yaml:detection::min_samples: 66", "", nil)
	require.NoError(t, err)
	assert.EqualValues(t, 66, cfg.Detection.MinSamples)
	// ${VAR} takes the collector's default scheme (env), and ${file:...}
	// reads a file, as in the collector's own config.
	bare := write("bare.yaml", "detection:\n  min_samples: ${REPLAY_MIN_SAMPLES}\n")
	cfg, err = replayConfig(ctx, rs, bare, "", nil)
	require.NoError(t, err)
	assert.EqualValues(t, 77, cfg.Detection.MinSamples)
	samples := write("samples.txt", "55")
	fromFile := write("fromfile.yaml", "detection:\n  min_samples: ${file:"+samples+"}\n")
	cfg, err = replayConfig(ctx, rs, fromFile, "", nil)
	require.NoError(t, err)
	assert.EqualValues(t, 55, cfg.Detection.MinSamples)
	_, err = replayConfig(ctx, rs, single, "releasecorrelation/a", nil)
	require.ErrorContains(t, err, "holds one processor's settings, not a collector config")

	// A whole collector config with one releasecorrelation processor: taken.
	one := write("one.yaml", `
processors:
  batch: {}
  releasecorrelation/only:
    detection:
      min_samples: ${env:REPLAY_MIN_SAMPLES}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [releasecorrelation/only], exporters: [nop]}
`)
	cfg, err = replayConfig(ctx, rs, one, "", nil)
	require.NoError(t, err)
	assert.EqualValues(t, 77, cfg.Detection.MinSamples)
	cfg, err = replayConfig(ctx, rs, one, "releasecorrelation/only", []string{"detection::min_samples=88"})
	require.NoError(t, err)
	assert.EqualValues(t, 88, cfg.Detection.MinSamples, "--set applies over the picked processor")

	// Several: --processor names one; without it, an error listing them.
	several := write("several.yaml", `
processors:
  releasecorrelation/b:
    detection: {min_samples: 22}
  releasecorrelation:
    detection: {min_samples: 11}
  releasecorrelation/a:
    detection: {min_samples: 33}
`)
	for i := 0; i < 5; i++ {
		_, err = replayConfig(ctx, rs, several, "", nil)
		require.ErrorContains(t, err, "has 3 releasecorrelation processors (releasecorrelation, releasecorrelation/a, releasecorrelation/b): choose one with --processor")
	}
	for id, want := range map[string]int{"releasecorrelation": 11, "releasecorrelation/a": 33, "releasecorrelation/b": 22} {
		cfg, err = replayConfig(ctx, rs, several, id, nil)
		require.NoError(t, err, id)
		assert.EqualValues(t, want, cfg.Detection.MinSamples, id)
	}
	_, err = replayConfig(ctx, rs, several, "releasecorrelation/c", nil)
	require.ErrorContains(t, err, "has no such processor (it has releasecorrelation, releasecorrelation/a, releasecorrelation/b)")
	_, err = replayConfig(ctx, rs, several, "batch", nil)
	require.ErrorContains(t, err, `must name a releasecorrelation processor`)

	none := write("none.yaml", "processors:\n  batch: {}\nservice: {}\n")
	_, err = replayConfig(ctx, rs, none, "", nil)
	require.ErrorContains(t, err, "a collector config without a releasecorrelation processor")
	_, err = replayConfig(ctx, rs, "", "releasecorrelation/a", nil)
	require.ErrorContains(t, err, "needs --config")
	_, err = replayConfig(ctx, rs, filepath.Join(dir, "missing.yaml"), "", nil)
	require.Error(t, err)

	// Through the command: the flag reaches the resolver, and a bare
	// ${VAR} (the collector's default scheme, env, which newCommand passes
	// on) in the picked processor's settings changes what is decided.
	telemetry, events := writeRecording(t)
	t.Setenv("REPLAY_HUGE_MIN_SAMPLES", "100000")
	edge := write("edge.yaml", `
processors:
  releasecorrelation:
    detection: {min_samples: 20}
  releasecorrelation/edge:
    detection: {min_samples: "${REPLAY_HUGE_MIN_SAMPLES}", hold_after: 30s}
`)
	out, err := runReplay(t, "--telemetry", telemetry, "--events", events, "--config", edge)
	require.ErrorContains(t, err, "has 2 releasecorrelation processors (releasecorrelation, releasecorrelation/edge): choose one with --processor", out)
	out, err = runReplay(t, "--telemetry", telemetry, "--events", events, "--config", edge, "--processor", "releasecorrelation/edge")
	require.NoError(t, err, out)
	assert.Contains(t, out, " hold ", "min_samples from the environment: too few samples ever")
	assert.NotContains(t, out, "rollback")
	out, err = runReplay(t, "--telemetry", telemetry, "--events", events, "--config", edge, "--processor", "releasecorrelation")
	require.NoError(t, err, out)
	assert.Contains(t, out, "rollback")

	out, err = runReplay(t, "--telemetry", telemetry, "--events", events, "--config", several)
	require.ErrorContains(t, err, "choose one with --processor", out)
	out, err = runReplay(t, "--telemetry", telemetry, "--events", events, "--config", several, "--processor", "releasecorrelation/a")
	require.NoError(t, err, out)
	assert.Contains(t, out, "deploy-4711")
}
