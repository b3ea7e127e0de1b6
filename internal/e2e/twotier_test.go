package e2e

import (
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

// twoTierShards is N of docs/examples/two-tier-routing/tier1.yaml: its
// shard pipelines and the tier-2 replicas the test starts.
const twoTierShards = 2

// twoTierFile is the path of an example of the two-tier layout.
func twoTierFile(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(e2etest.MustModuleRoot(t), "docs", "examples", "two-tier-routing", name)
}

// twoTierShard is tier 1's routing rule (docs/two-tier-routing.md), written
// independently of the OTTL: the FNV-1a 64-bit hash of service.name as a
// signed int64, its truncated remainder by n, a negative remainder counted
// from n; no string service.name goes to shard 0.
func twoTierShard(name pcommon.Value, ok bool, n int64) int64 {
	if !ok || name.Type() != pcommon.ValueTypeStr {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(name.Str()))
	r := int64(h.Sum64()) % n
	if r < 0 {
		r += n
	}
	return r
}

// twoTierService is one service the test sends as: its resource's
// service.name (nil: none).
type twoTierService struct {
	name any // string, int64 or nil
}

func (s twoTierService) putResource(m pcommon.Map) {
	switch v := s.name.(type) {
	case string:
		m.PutStr("service.name", v)
	case int64:
		m.PutInt("service.name", v)
	}
	m.PutStr("service.namespace", "shop")
	m.PutStr("service.version", "v2.0.0")
	m.PutStr("deployment.environment.name", "production")
}

// serviceLabel names a resource's service for assertions, whatever its
// service.name holds.
func serviceLabel(m pcommon.Map) string {
	v, ok := m.Get("service.name")
	switch {
	case !ok:
		return "(no service.name)"
	case v.Type() == pcommon.ValueTypeStr:
		return v.Str()
	default:
		return fmt.Sprintf("(service.name %s %s)", v.Type(), v.AsString())
	}
}

func resourceShard(m pcommon.Map) int64 {
	v, ok := m.Get("service.name")
	return twoTierShard(v, ok, twoTierShards)
}

// twoTierServices are 20 named services (one non-ASCII), one without
// service.name and one whose service.name is not a string.
func twoTierServices() []twoTierService {
	names := []string{
		"checkout", "cart", "payments", "catalog", "search", "recommendations", "shipping",
		"inventory", "frontend", "auth", "currency", "ad", "email", "quote", "fraud-detection",
		"loyalty", "pricing", "reviews", "notifications", "café-api",
	}
	out := make([]twoTierService, 0, len(names)+2)
	for _, n := range names {
		out = append(out, twoTierService{name: n})
	}
	return append(out, twoTierService{name: nil}, twoTierService{name: int64(4711)})
}

// arrival is one span, metric data point or log record the test sent, as a
// sink received it.
type arrival struct {
	signal  string // traces, metrics, logs
	seq     int64  // e2e.seq: unique over everything the test sent
	service string // serviceLabel of its resource
	res     pcommon.Map
}

// arrivals lists the test's records among what the sink received (records
// without e2e.seq, such as the replica's own release records, are left out).
func arrivals(s *e2etest.OTLPSink) []arrival {
	var out []arrival
	add := func(signal string, res pcommon.Map, attrs pcommon.Map) {
		if v, ok := attrs.Get("e2e.seq"); ok {
			out = append(out, arrival{signal: signal, seq: v.Int(), service: serviceLabel(res), res: res})
		}
	}
	for _, td := range s.Traces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				spans := rs.ScopeSpans().At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					add("traces", rs.Resource().Attributes(), spans.At(k).Attributes())
				}
			}
		}
	}
	for _, md := range s.Metrics() {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			for j := 0; j < rm.ScopeMetrics().Len(); j++ {
				ms := rm.ScopeMetrics().At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					if ms.At(k).Type() != pmetric.MetricTypeGauge {
						continue
					}
					dps := ms.At(k).Gauge().DataPoints()
					for l := 0; l < dps.Len(); l++ {
						add("metrics", rm.Resource().Attributes(), dps.At(l).Attributes())
					}
				}
			}
		}
	}
	for _, ld := range s.Logs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					add("logs", rl.Resource().Attributes(), lrs.At(k).Attributes())
				}
			}
		}
	}
	return out
}

// eventNames returns the event names of the log records received for a
// service, the replica's own release records included.
func eventNames(s *e2etest.OTLPSink, service string) []string {
	var out []string
	for _, ld := range s.Logs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			if serviceLabel(rl.Resource().Attributes()) != service {
				continue
			}
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					if n := lrs.At(k).EventName(); n != "" {
						out = append(out, n)
					}
				}
			}
		}
	}
	return out
}

// twoTierReplica is a started tier-2 collector and its backend.
type twoTierReplica struct {
	proc                             *e2etest.Process
	sink                             *e2etest.OTLPSink
	otlp, events, api, health, token string
}

func (r *twoTierReplica) apiGet(t *testing.T, path string) *e2etest.Response {
	t.Helper()
	return e2etest.Get(t, "http://"+r.api+path, "Authorization", "Bearer "+r.token)
}

// startTier2 runs docs/examples/two-tier-routing/tier2.yaml as it is, on
// free ports given through its environment variables.
func startTier2(t *testing.T, bin string, i int) *twoTierReplica {
	t.Helper()
	r := &twoTierReplica{
		sink: e2etest.NewOTLPSink(t), otlp: e2etest.FreeAddr(t), events: e2etest.FreeAddr(t),
		api: e2etest.FreeAddr(t), health: e2etest.FreeAddr(t), token: fmt.Sprintf("api-token-%d", i),
	}
	dir := t.TempDir()
	env := append(isolatedEnv(dir),
		"OTLP_GRPC_ENDPOINT="+r.otlp, "RELEASE_EVENTS_ENDPOINT="+r.events,
		"RELEASE_API_ENDPOINT="+r.api, "HEALTH_CHECK_ENDPOINT="+r.health,
		"RELEASE_API_TOKEN="+r.token, "RELEASE_EVENTS_TOKEN=events-token",
		"BACKEND_ENDPOINT="+r.sink.Endpoint(),
	)
	r.proc = e2etest.Start(t, bin, e2etest.Options{Dir: dir, Env: env, Args: []string{
		"--config", twoTierFile(t, "tier2.yaml"), "--set=service::telemetry::metrics::level=none",
	}})
	r.proc.RequireReady(startTimeout, "http://"+r.health+"/")
	r.proc.RequireListening(startTimeout, r.otlp, r.events, r.api)
	return r
}

// twoTierBatch builds one request of each signal to tier 1: every service
// as its own resource (in an order that changes per round), with its spans,
// gauge points and log records numbered from *seq on; want records what
// was sent.
func twoTierBatch(services []twoTierService, round int, seq *int64, want map[string]map[int64]string) (ptrace.Traces, pmetric.Metrics, plog.Logs) {
	const perResource = 3
	td, md, ld := ptrace.NewTraces(), pmetric.NewMetrics(), plog.NewLogs()
	now := time.Now()
	next := func(signal, service string) int64 {
		*seq++
		want[signal][*seq] = service
		return *seq
	}
	for k := range services {
		s := services[(k+round*7)%len(services)]

		rs := td.ResourceSpans().AppendEmpty()
		s.putResource(rs.Resource().Attributes())
		label := serviceLabel(rs.Resource().Attributes())
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for range perResource {
			n := next("traces", label)
			sp := spans.AppendEmpty()
			sp.SetTraceID(pcommon.TraceID{0x7e, byte(round), byte(n >> 8), byte(n), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
			sp.SetSpanID(pcommon.SpanID{0x7e, byte(n >> 16), byte(n >> 8), byte(n), 1, 2, 3, 4})
			sp.SetName("GET /two-tier")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-20 * time.Millisecond)))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
			sp.Attributes().PutInt("http.response.status_code", 200)
			sp.Attributes().PutInt("e2e.seq", n)
		}

		rm := md.ResourceMetrics().AppendEmpty()
		s.putResource(rm.Resource().Attributes())
		g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		g.SetName("e2e.two_tier.gauge")
		dps := g.SetEmptyGauge().DataPoints()
		for range perResource {
			n := next("metrics", label)
			dp := dps.AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
			dp.SetIntValue(n)
			dp.Attributes().PutInt("e2e.seq", n)
		}

		rl := ld.ResourceLogs().AppendEmpty()
		s.putResource(rl.Resource().Attributes())
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for range perResource {
			n := next("logs", label)
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(now))
			lr.Body().SetStr("two-tier record")
			lr.Attributes().PutInt("e2e.seq", n)
		}
	}
	return td, md, ld
}

// TestTwoTierRouting runs the two-tier layout of docs/two-tier-routing.md
// on the built binary, with the example files as they are: tier 1
// (tier1.yaml, N = 2) in front of two tier-2 replicas (tier2.yaml), each
// exporting to its own OTLP sink. Spans, metrics and logs of 22 services
// (one without service.name, one whose service.name is an integer), several
// services per request, are sent to tier 1; every record arrives exactly
// once, and all of a service's records at the one replica the documented
// rule names. A deploy event posted to a service's owner stamps that
// service's telemetry, and the other replica does not know the release.
func TestTwoTierRouting(t *testing.T) {
	bin := e2etest.Binary(t)
	services := twoTierServices()

	// The services exercise every case of the rule: both shards, from
	// negative and from non-negative hashes, and the two shard-0 defaults.
	cases := map[string]bool{}
	for _, s := range services {
		if name, ok := s.name.(string); ok {
			h := fnv.New64a()
			_, _ = h.Write([]byte(name))
			cases[fmt.Sprintf("shard %d, hash negative %t", twoTierShard(pcommon.NewValueStr(name), true, twoTierShards), int64(h.Sum64()) < 0)] = true
		}
	}
	require.Len(t, cases, 4, "the test's services cover both shards from both signs of hash: %v", cases)

	replicas := make([]*twoTierReplica, twoTierShards)
	for i := range replicas {
		replicas[i] = startTier2(t, bin, i)
	}

	dir := t.TempDir()
	tier1HTTP, tier1GRPC, tier1Health := e2etest.FreeAddr(t), e2etest.FreeAddr(t), e2etest.FreeAddr(t)
	env := append(isolatedEnv(dir),
		"OTLP_GRPC_ENDPOINT="+tier1GRPC, "OTLP_HTTP_ENDPOINT="+tier1HTTP, "HEALTH_CHECK_ENDPOINT="+tier1Health,
		"TIER2_INSECURE=true",
	)
	for i, r := range replicas {
		env = append(env, fmt.Sprintf("SHARD_%d_ENDPOINT=%s", i, r.otlp))
	}
	tier1 := e2etest.Start(t, bin, e2etest.Options{Dir: dir, Env: env, Args: []string{
		"--config", twoTierFile(t, "tier1.yaml"), "--set=service::telemetry::metrics::level=none",
	}})
	tier1.RequireReady(startTimeout, "http://"+tier1Health+"/")
	tier1.RequireListening(startTimeout, tier1HTTP, tier1GRPC)

	// A deploy event for checkout, posted to the replica that owns it.
	owner := twoTierShard(pcommon.NewValueStr("checkout"), true, twoTierShards)
	other := replicas[1-owner]
	const deployID = "two-tier-checkout-v2"
	deploy := []byte(`{"id":"` + deployID + `","type":"succeeded","attributes":{"service.name":"checkout",
	  "service.namespace":"shop","service.version":"v2.0.0","deployment.environment.name":"production"}}`)
	requireReply(t, e2etest.PostJSON(t, "http://"+replicas[owner].events+"/v1/events", deploy,
		"Authorization", "Bearer events-token"), 202, accepted(deployID, deployID, "succeeded"))

	want := map[string]map[int64]string{"traces": {}, "metrics": {}, "logs": {}}
	var seq int64
	const rounds = 4
	for round := range rounds {
		td, md, ld := twoTierBatch(services, round, &seq, want)
		for _, req := range []struct {
			path string
			body func() ([]byte, error)
		}{
			{"/v1/traces", ptraceotlp.NewExportRequestFromTraces(td).MarshalProto},
			{"/v1/metrics", pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto},
			{"/v1/logs", plogotlp.NewExportRequestFromLogs(ld).MarshalProto},
		} {
			body, err := req.body()
			require.NoError(t, err)
			resp := e2etest.Do(t, "POST", "http://"+tier1HTTP+req.path, body, "Content-Type", "application/x-protobuf")
			require.Equalf(t, 200, resp.Status, "tier 1 answered %s: %s", req.path, resp.Body)
		}
	}
	total := len(want["traces"]) + len(want["metrics"]) + len(want["logs"])
	require.Equal(t, rounds*len(services)*3*3, total)

	// Wait (bounded) until every record sent has arrived somewhere.
	distinct := func() int {
		seen := map[int64]bool{}
		for _, r := range replicas {
			for _, a := range arrivals(r.sink) {
				seen[a.seq] = true
			}
		}
		return len(seen)
	}
	// Short of that, the checks below name what is missing.
	deadline := time.Now().Add(60 * time.Second)
	for distinct() < total && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := distinct(); n < total {
		t.Errorf("%d of the %d records sent to tier 1 reached a tier-2 backend within 60 s", n, total)
	}

	// Stop everything gracefully, tier 1 first, so that whatever was still
	// on its way has arrived before counting: the counts below are final.
	require.NoError(t, tier1.Stop(), "tier 1: graceful shutdown on SIGTERM")
	for i, r := range replicas {
		require.NoErrorf(t, r.proc.Stop(), "tier-2 replica %d: graceful shutdown on SIGTERM", i)
		require.Emptyf(t, r.sink.Errors(), "requests the backend of replica %d refused", i)
	}

	// Every record exactly once, at the replica its service hashes to.
	got := map[string]map[int64][]int{"traces": {}, "metrics": {}, "logs": {}}
	servicesAt := make([]map[string]bool, len(replicas))
	var misplaced, altered []string
	for i, r := range replicas {
		servicesAt[i] = map[string]bool{}
		for _, a := range arrivals(r.sink) {
			got[a.signal][a.seq] = append(got[a.signal][a.seq], i)
			servicesAt[i][a.service] = true
			if a.service != want[a.signal][a.seq] {
				altered = append(altered, fmt.Sprintf("%s %d: sent as %s, received as %s", a.signal, a.seq, want[a.signal][a.seq], a.service))
			}
			if shard := resourceShard(a.res); shard != int64(i) {
				misplaced = append(misplaced, fmt.Sprintf("%s %d (%s, shard %d) at replica %d", a.signal, a.seq, a.service, shard, i))
			}
		}
	}
	assert.Emptyf(t, firstFew(altered), "records whose service.name changed on the way (%d)", len(altered))
	assert.Emptyf(t, firstFew(misplaced), "records at another replica than their shard's (%d)", len(misplaced))
	for signal, sent := range want {
		var missing, duplicated []string
		for n, service := range sent {
			switch at := got[signal][n]; {
			case len(at) == 0:
				missing = append(missing, fmt.Sprintf("%d (%s)", n, service))
			case len(at) > 1:
				duplicated = append(duplicated, fmt.Sprintf("%d (%s) at replicas %v", n, service, at))
			}
		}
		sort.Strings(missing)
		sort.Strings(duplicated)
		assert.Emptyf(t, firstFew(missing), "%s records sent to tier 1 that no replica received (%d)", signal, len(missing))
		assert.Emptyf(t, firstFew(duplicated), "%s records received more than once (%d)", signal, len(duplicated))
		assert.Lenf(t, got[signal], len(sent), "%s records received that the test never sent", signal)
	}

	// Each service at exactly one replica, and both replicas with some.
	for _, s := range services {
		m := pcommon.NewMap()
		s.putResource(m)
		label := serviceLabel(m)
		var at []int
		for i := range replicas {
			if servicesAt[i][label] {
				at = append(at, i)
			}
		}
		assert.Equalf(t, []int{int(resourceShard(m))}, at, "replicas that received %s", label)
	}
	for i := range replicas {
		assert.NotEmptyf(t, servicesAt[i], "replica %d received no service", i)
		t.Logf("replica %d received %d services: %v", i, len(servicesAt[i]), sortedKeys(servicesAt[i]))
	}
	assert.True(t, servicesAt[0]["(no service.name)"], "telemetry without service.name goes to replica 0")

	// The deploy event reached the owner only: it stamped checkout's
	// telemetry there, and the other replica does not know the release.
	for _, a := range arrivals(replicas[owner].sink) {
		if a.service == "checkout" {
			v, _ := a.res.Get("deployment.id")
			assert.Equalf(t, deployID, v.AsString(), "checkout's %s record %d at its owner", a.signal, a.seq)
		}
	}
	assert.Contains(t, eventNames(replicas[owner].sink, "checkout"), "release.deployment", "the owner announced the release to its backend")
	assert.NotContains(t, eventNames(other.sink, "checkout"), "release.deployment")
}

// TestTwoTierShardOf checks the shard_of bash function of
// docs/two-tier-routing.md, which a CI step uses to post a deploy event to
// the replica that owns its service, against tier 1's rule, for several N
// and names that are not ASCII, empty or quoted.
func TestTwoTierShardOf(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not on PATH")
	}
	raw, err := os.ReadFile(filepath.Join(e2etest.MustModuleRoot(t), "docs", "two-tier-routing.md"))
	require.NoError(t, err)
	var fn string
	for _, f := range fences(t, string(raw)) {
		if f.lang == "sh" && strings.Contains(f.text, "shard_of() {") {
			start := strings.Index(f.text, "shard_of() {")
			end := strings.Index(f.text[start:], "\n}\n")
			require.NotEqual(t, -1, end, "shard_of has no closing brace at the start of a line")
			fn = f.text[start : start+end+3]
		}
	}
	require.NotEmpty(t, fn, "docs/two-tier-routing.md shows no ```sh block defining shard_of()")

	names := []string{"", "a", "x'y", "with space", "日本語-svc", "Ünïcödé", `back\slash`, "-n", "%d"}
	for _, s := range twoTierServices() {
		if n, ok := s.name.(string); ok {
			names = append(names, n)
		}
	}
	script := fn + `
for n in 2 3 5 7; do
  for s in "$@"; do
    echo "$(shard_of "$s" "$n")"
  done
done
`
	cmd := exec.Command(bash, append([]string{"-c", script, "shard_of"}, names...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	require.NoErrorf(t, err, "bash: %s", out)
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	require.Len(t, lines, 4*len(names), "bash printed:\n%s", out)
	k := 0
	for _, n := range []int64{2, 3, 5, 7} {
		for _, name := range names {
			want := twoTierShard(pcommon.NewValueStr(name), true, n)
			assert.Equalf(t, strconv.FormatInt(want, 10), lines[k], "shard_of %q %d", name, n)
			k++
		}
	}
}

// TestTwoTierExamplesValidate validates the two example files with
// `otelcol-release validate` (TestExampleConfigs only looks at the files
// directly under docs/examples), and checks that the filter conditions the
// page shows are the ones tier1.yaml runs.
func TestTwoTierExamplesValidate(t *testing.T) {
	bin := e2etest.Binary(t)
	for _, name := range []string{"tier1.yaml", "tier2.yaml"} {
		t.Run(name, func(t *testing.T) {
			f := twoTierFile(t, name)
			res := runEnv(t, bin, exampleEnv(t, f), "validate", "--config", f)
			require.Equalf(t, 0, res.ExitCode, "otelcol-release validate --config %s:\n%s", f, res.Output)
		})
	}

	t.Run("the page's conditions are tier1.yaml's", func(t *testing.T) {
		type filters map[string]struct {
			Traces  []string `yaml:"trace_conditions"`
			Metrics []string `yaml:"metric_conditions"`
			Logs    []string `yaml:"log_conditions"`
		}
		raw, err := os.ReadFile(twoTierFile(t, "tier1.yaml"))
		require.NoError(t, err)
		var cfg struct {
			Processors filters `yaml:"processors"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &cfg))

		page, err := os.ReadFile(filepath.Join(e2etest.MustModuleRoot(t), "docs", "two-tier-routing.md"))
		require.NoError(t, err)
		var shown filters
		for _, f := range fences(t, string(page)) {
			if f.lang == "yaml" && strings.Contains(f.text, "filter/shard_0:") {
				require.NoError(t, yaml.Unmarshal([]byte(f.text), &shown))
			}
		}
		require.Len(t, shown, twoTierShards, "the page shows the filter of every shard")
		for i := range twoTierShards {
			id := fmt.Sprintf("filter/shard_%d", i)
			file, ok := cfg.Processors[id]
			require.Truef(t, ok, "tier1.yaml has no %s", id)
			require.Len(t, file.Traces, 1, id)
			assert.Equalf(t, shown[id].Traces, file.Traces, "%s: the page and tier1.yaml", id)
			assert.Equalf(t, file.Traces, file.Metrics, "%s: metric_conditions", id)
			assert.Equalf(t, file.Traces, file.Logs, "%s: log_conditions", id)
		}
	})
}

// firstFew keeps the first ten lines of a list for a failure message.
func firstFew(lines []string) []string {
	if len(lines) > 10 {
		return append(lines[:10:10], fmt.Sprintf("... and %d more", len(lines)-10))
	}
	return lines
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
