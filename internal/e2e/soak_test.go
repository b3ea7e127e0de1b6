package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension"
	"github.com/otelcol-release/otelcol-release/internal/e2etest"
	"github.com/otelcol-release/otelcol-release/internal/memlimit"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor"
)

// The soak test's scale and caps (issue 10). 50,000 services, 40,000 of
// them kept: the first 10,000 are created, acknowledged, and then evicted
// by the 40,000 that follow, which is what the store's eviction order
// (least recently touched idle key first, never one of the last
// max_keys/8 created) must do.
const (
	soakServices = 50_000
	soakMaxKeys  = 40_000 // releasestore::max_keys of TestSoak50kServices
	soakMaxArms  = 40_000 // releasecorrelation::detection::max_arms of TestSoak50kServices
	soakCanaryOf = 10     // every 10th kept service gets a v2 canary
	soakBatch    = 100    // native events per request (a JSON array)
	soakClients  = 8      // concurrent senders of deploy events
	soakSpansPer = 4      // spans per resource (one resource per service version)
	soakResPer   = 500    // resources per OTLP/HTTP export
	soakOTLP     = 4      // concurrent OTLP senders
)

// soakRSSBound is the bound the collector's resident memory must stay
// under, computed from the configured caps and the per-key costs measured
// in docs/benchmarks.md:
//
//   - the store: max_keys (40,000) x 2.7 KB, the live heap of a key holding
//     a stable release and a canary (BenchmarkCardinality) = 108 MB;
//   - the detector: max_arms (40,000) series x 9 KB, the detector's share of
//     a key in BenchmarkMemoryPerKey (both versions' series and the
//     canary's evaluation). Counted per series rather than per key, because
//     here every key is under evaluation: a `succeeded` release started
//     within max_duration is evaluated against its pre-deploy baseline, so
//     each of the 40,000 v1 series carries an evaluation = 360 MB;
//   - 468 MB of live heap at the caps (measured: 406 MB after ten rounds
//     of spans before the detector's steady-state savings, 203 MB since;
//     heap profiles taken after a GC);
//   - three times that for RSS: the Go runtime lets the heap grow to twice
//     the live heap before it collects (GOGC=100, no GOMEMLIMIT set), and
//     freed pages are returned to the OS lazily, so RSS runs ahead of that
//     (RSS was 2.6 times the live heap: 1,045 MiB for 406 MB) = 1,404 MB;
//   - plus the process without state (goroutine stacks, bbolt's resident
//     pages, HTTP buffers, and the binary's own pages, about 130 MiB of
//     its 195 MB; 144 MiB at start): 128 MiB.
//
// Bound: 3 x 468 MB + 128 MiB = 1,538 MB (1,467 MiB); 845 - 859 MiB is
// observed (868 - 1,045 MiB before the savings). It depends on the caps,
// not on the 50,000 services offered: more services only evict more.
// TestSoak50kServicesDefaultCaps holds issue 10's goal on the default caps.
const (
	soakStoreBytesPerKey    = 2_700
	soakDetectorBytesPerArm = 9_000
	soakRuntimeBytes        = 128 << 20
	soakRSSBound            = 3*(soakMaxKeys*soakStoreBytesPerKey+soakMaxArms*soakDetectorBytesPerArm) + soakRuntimeBytes
)

// soakBound is soakRSSBound's formula for other caps.
func soakBound(keys, arms int) int64 {
	return 3*(int64(keys)*soakStoreBytesPerKey+int64(arms)*soakDetectorBytesPerArm) + soakRuntimeBytes
}

// soakSpanRounds and soakSpanTime bound the telemetry: up to 10 rounds of
// spans for every service version, stopped after 60 s.
const (
	soakSpanRounds = 10
	soakSpanTime   = 60 * time.Second
)

const soakConfig = `
extensions:{{if .Pprof}}
  pprof:
    endpoint: {{.Pprof}}{{end}}
  file_storage:
    directory: {{.DataDir}}
  releasestore:
    endpoint: {{.APIAddr}}
    storage: file_storage
{{- if .MaxKeys}}
    max_keys: {{.MaxKeys}}{{end}}
    max_history: 4
    max_decisions: 1000
    max_dedupe_entries: 100000
receivers:
  otlp:
    protocols:
      http:
        endpoint: {{.OTLPAddr}}
  releasemetadata:
    endpoint: {{.EventsAddr}}
processors:
  releasecorrelation:
    detection:{{if .MaxArms}}
      max_arms: {{.MaxArms}}{{else}} {}{{end}}
exporters:
  nop:
service:
  telemetry:
    metrics:
      level: none
  extensions: [file_storage, releasestore{{if .Pprof}}, pprof{{end}}]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [releasecorrelation]
      exporters: [nop]
    logs:
      receivers: [releasemetadata]
      exporters: [nop]
`

func soakService(i int) string  { return fmt.Sprintf("soak-svc-%05d", i) }
func soakStableID(i int) string { return fmt.Sprintf("soak-v1-%05d", i) }
func soakCanaryID(i int) string { return fmt.Sprintf("soak-v2-%05d", i) }

// soakCaps is what a soak run configures and bounds.
type soakCaps struct {
	// maxKeys and maxArms are written into the config when not 0;
	// keys is the store's cap in effect (the default when maxKeys is 0).
	maxKeys, maxArms, keys int
	// env is added to the collector's environment (GOMEMLIMIT).
	env []string
	// rssBound bounds VmRSS; anonBound, when not 0, bounds RssAnon (the
	// memory the process owns, without the binary's file pages).
	rssBound, anonBound int64
	// cgroupLimit, when not 0, runs the collector in a memory cgroup
	// with that hard limit, as a container runtime does, where the host
	// allows it: the kernel must not kill it. Contained, the collector
	// runs without GOMEMLIMIT unless env sets it, and must derive its soft
	// limit from the container's; uncontained, envUncontained is added.
	cgroupLimit    int64
	envUncontained []string
}

// first is how many services the keys of the later ones evict: wave one.
func (c soakCaps) first() int { return soakServices - c.keys }

// canary reports whether service i gets a canary: every 10th of the
// services that stay in the store.
func (c soakCaps) canary(i int) bool { return i >= c.first() && i%soakCanaryOf == 0 }

// rssSampler reads VmRSS and RssAnon of a process every 200 ms and keeps
// the largest of each.
type rssSampler struct {
	pid       int
	max, anon atomic.Int64
	stop      chan struct{}
	done      chan struct{}
}

func startRSSSampler(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := procStatusBytes(pid, "VmRSS"); err == nil && v > s.max.Load() {
				s.max.Store(v)
			}
			if v, err := procStatusBytes(pid, "RssAnon"); err == nil && v > s.anon.Load() {
				s.anon.Store(v)
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop returns the peaks of VmRSS and RssAnon.
func (s *rssSampler) Stop() (rss, anon int64) {
	close(s.stop)
	<-s.done
	return s.max.Load(), s.anon.Load()
}

// procStatusBytes reads a "kB" field of /proc/<pid>/status (VmRSS, VmHWM).
func procStatusBytes(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		return kb << 10, err
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, pid)
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// soakPost sends the native events with the given ids (body(i) is the
// document of ids[i]) in arrays of soakBatch from soakClients concurrent
// senders and returns the ids answered 202 accepted. Any other answer
// fails the test.
func soakPost(t *testing.T, url string, ids []string, body func(i int) string) []string {
	t.Helper()
	type job struct{ ids, docs []string }
	jobs := make(chan job)
	var mu sync.Mutex
	var acked []string
	var errs []string
	var wg sync.WaitGroup
	for range soakClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				resp, err := e2etest.DoErr("POST", url, []byte("["+strings.Join(j.docs, ",")+"]"), "Content-Type", "application/json")
				if err != nil || resp.Status != 202 {
					mu.Lock()
					if err != nil {
						errs = append(errs, err.Error())
					} else {
						errs = append(errs, fmt.Sprintf("%d: %.300s", resp.Status, resp.Body))
					}
					mu.Unlock()
					continue
				}
				var r reply
				if err := json.Unmarshal(resp.Body, &r); err != nil || r.Status != "accepted" || len(r.Events) != len(j.ids) {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("answer %.300s", resp.Body))
					mu.Unlock()
					continue
				}
				mu.Lock()
				for k, e := range r.Events {
					if e.Outcome == "accepted" && e.ID == j.ids[k] {
						acked = append(acked, e.ID)
					} else {
						errs = append(errs, fmt.Sprintf("event %s: %+v", j.ids[k], e))
					}
				}
				mu.Unlock()
			}
		}()
	}
	var idx []int
	for i := range ids {
		idx = append(idx, i)
	}
	for len(idx) > 0 {
		n := min(soakBatch, len(idx))
		var j job
		for _, i := range idx[:n] {
			j.ids = append(j.ids, ids[i])
			j.docs = append(j.docs, body(i))
		}
		jobs <- j
		idx = idx[n:]
	}
	close(jobs)
	wg.Wait()
	require.Emptyf(t, errs, "%d failed deliveries, first: %v", len(errs), errs[:min(len(errs), 3)])
	return acked
}

// soakTraces sends soakSpansPer server spans for every (service, version)
// resource given, soakResPer resources per OTLP/HTTP export, from soakOTLP
// senders.
func soakTraces(t *testing.T, url string, resources [][2]string) {
	t.Helper()
	chunks := make(chan [][2]string)
	var errs atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range soakOTLP {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chunks {
				td := ptrace.NewTraces()
				now := time.Now()
				for k, res := range c {
					rs := td.ResourceSpans().AppendEmpty()
					a := rs.Resource().Attributes()
					a.PutStr("service.name", res[0])
					a.PutStr("service.version", res[1])
					a.PutStr("deployment.environment.name", "production")
					spans := rs.ScopeSpans().AppendEmpty().Spans()
					for s := range soakSpansPer {
						sp := spans.AppendEmpty()
						sp.SetTraceID(pcommon.TraceID{byte(k), byte(k >> 8), byte(s), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
						sp.SetSpanID(pcommon.SpanID{byte(k), byte(k >> 8), byte(s), 1, 2, 3, 4, 5})
						sp.SetName("GET /")
						sp.SetKind(ptrace.SpanKindServer)
						sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Duration(20+s) * time.Millisecond)))
						sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
						sp.Attributes().PutStr("http.route", "/")
						sp.Attributes().PutInt("http.response.status_code", 200)
					}
				}
				body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
				if err != nil {
					panic(err)
				}
				resp, err := e2etest.DoErr("POST", url, body, "Content-Type", "application/x-protobuf")
				if err != nil || resp.Status != 200 {
					errs.Add(1)
					first.CompareAndSwap(nil, fmt.Sprintf("%v %+v", err, resp))
				}
			}
		}()
	}
	for len(resources) > 0 {
		n := min(soakResPer, len(resources))
		chunks <- resources[:n]
		resources = resources[n:]
	}
	close(chunks)
	wg.Wait()
	require.Zerof(t, errs.Load(), "OTLP exports failed, first: %v", first.Load())
}

// TestSoak50kServices drives 50,000 services through the built binary with
// file_storage and the correlation processor (issue 10): a `succeeded`
// deploy of v1 for every service (the first 10,000, then the other 40,000,
// which evict them at max_keys 40,000), a `started` canary of v2 for every
// 10th kept service, OTLP spans for every service version; the collector's
// RSS is sampled throughout and must stay under soakRSSBound. Then kill -9,
// a restart on the same data directory, and every acknowledged release the
// caps allow to be kept is read back through the paginated list API, with
// exactly the evicted ones missing. About 30 s on 2 cores with a prebuilt
// binary.
func TestSoak50kServices(t *testing.T) {
	runSoak(t, soakCaps{maxKeys: soakMaxKeys, maxArms: soakMaxArms, keys: soakMaxKeys, rssBound: soakRSSBound})
}

// soakDefaultAnonBound is issue 10's memory goal for 50,000 services,
// applied to the memory the collector owns (RssAnon): the binary's own
// pages (about 130 MiB of its 195 MB, file-backed and reclaimable) come on
// top in VmRSS.
const soakDefaultAnonBound = 256 << 20

// TestSoak50kServicesDefaultCaps is the same soak on the default caps
// (max_keys 10,000, max_arms 20,000), as a new user runs it: in a container
// limited to 256 MiB (a memory cgroup, where the host allows one), with no
// GOMEMLIMIT, so that the collector sets its soft limit from the
// container's; elsewhere with GOMEMLIMIT=200MiB, as the collector's Helm
// chart derives it from the container's limit. The collector's own memory
// must stay under 256 MiB while 50,000 services pass through it.
func TestSoak50kServicesDefaultCaps(t *testing.T) {
	keys := releasestoreextension.NewFactory().CreateDefaultConfig().(*releasestoreextension.Config).MaxKeys
	arms := releasecorrelationprocessor.NewFactory().CreateDefaultConfig().(*releasecorrelationprocessor.Config).Detection.MaxArms
	caps := soakCaps{keys: keys, rssBound: soakBound(keys, arms), anonBound: soakDefaultAnonBound,
		cgroupLimit: soakDefaultAnonBound, envUncontained: []string{"GOMEMLIMIT=200MiB"}}
	// OTELCOL_RELEASE_SOAK_GOMEMLIMIT measures another limit ("off": none);
	// the collector's own memory is then reported, not bounded.
	if v := os.Getenv("OTELCOL_RELEASE_SOAK_GOMEMLIMIT"); v != "" {
		caps.env, caps.envUncontained, caps.anonBound = []string{"GOMEMLIMIT=" + v}, nil, 0
		t.Logf("GOMEMLIMIT=%s from OTELCOL_RELEASE_SOAK_GOMEMLIMIT: RssAnon is reported, not bounded", v)
	}
	runSoak(t, caps)
}

func runSoak(t *testing.T, caps soakCaps) {
	bin := e2etest.Binary(t)
	dir := t.TempDir()
	cfgData := struct {
		DataDir, APIAddr, EventsAddr, OTLPAddr string
		MaxKeys, MaxArms                       int
		// OTELCOL_RELEASE_PPROF=host:port serves the collector's profiles,
		// and the test waits 30 s before the kill for a heap profile.
		Pprof string
	}{filepath.Join(dir, "storage"), e2etest.FreeAddr(t), e2etest.FreeAddr(t), e2etest.FreeAddr(t), caps.maxKeys, caps.maxArms,
		os.Getenv("OTELCOL_RELEASE_PPROF")}
	require.NoError(t, os.MkdirAll(cfgData.DataDir, 0o700))
	cfg := e2etest.WriteConfig(t, dir, "soak.yaml", soakConfig, cfgData)
	p := ports{EventsAddr: cfgData.EventsAddr, APIAddr: cfgData.APIAddr, DataDir: cfgData.DataDir}
	var cg *testhost.MemoryCgroup
	if caps.cgroupLimit > 0 {
		var why string
		if cg, why = testhost.NewMemoryCgroup(t, caps.cgroupLimit); cg == nil {
			t.Logf("not contained in a memory cgroup: %s", why)
		} else {
			t.Logf("the collector runs in memory cgroup %s, limited to %s", cg.Dir(), mib(caps.cgroupLimit))
		}
	}
	env := append(isolatedEnv(dir), caps.env...)
	if cg == nil {
		env = append(env, caps.envUncontained...)
	}
	start := func() *e2etest.Process {
		opts := e2etest.Options{Dir: dir, Env: env, Args: []string{"--config", cfg}}
		if cg != nil {
			opts.CgroupProcs = cg.ProcsFile()
			// The binary's pages are then read into the group and
			// charged to it, as in a container on a fresh node.
			if err := testhost.DropFromPageCache(bin); err != nil {
				t.Logf("the binary's cached pages stay (charged elsewhere): %v", err)
			}
		}
		proc := e2etest.Start(t, bin, opts)
		if cg != nil && len(caps.env) == 0 {
			want := fmt.Sprintf("soft memory limit %d MiB", int64(float64(caps.cgroupLimit)*memlimit.Ratio)>>20)
			require.NoError(t, proc.WaitForOutput(want, startTimeout), "the collector derives its soft memory limit from the container's")
		}
		proc.RequireReady(startTimeout, p.releasesURL())
		proc.RequireListening(startTimeout, p.EventsAddr, cfgData.OTLPAddr)
		return proc
	}
	phase := func(name string, began time.Time, extra string) {
		t.Logf("phase %-28s %8s %s", name, time.Since(began).Round(time.Millisecond), extra)
	}

	t0 := time.Now()
	first := start()
	phase("start", t0, "")
	rss := startRSSSampler(first.Pid())
	if v, err := procStatusBytes(first.Pid(), "VmRSS"); err == nil {
		t.Logf("RSS at start: %s; bound %s", mib(v), mib(caps.rssBound))
	}
	checkRSS := func(when string) {
		v, err := procStatusBytes(first.Pid(), "VmRSS")
		require.NoError(t, err)
		t.Logf("RSS %s: %s", when, mib(v))
		require.Lessf(t, v, int64(caps.rssBound), "RSS %s: %s over the bound %s", when, mib(v), mib(caps.rssBound))
	}

	stable := func(i int) string {
		return fmt.Sprintf(`{"id":%q,"type":"succeeded","attributes":{"service.name":%q,"service.version":"v1","deployment.environment.name":"production"}}`,
			soakStableID(i), soakService(i))
	}
	var waveOne, waveTwo, canaryIDs []string
	var canaries []int
	for i := range soakServices {
		if i < caps.first() {
			waveOne = append(waveOne, soakStableID(i))
		} else {
			waveTwo = append(waveTwo, soakStableID(i))
		}
		if caps.canary(i) {
			canaries = append(canaries, i)
			canaryIDs = append(canaryIDs, soakCanaryID(i))
		}
	}

	t1 := time.Now()
	acked := soakPost(t, p.events("/v1/events"), waveOne, func(k int) string { return stable(k) })
	phase("deploys, wave one", t1, fmt.Sprintf("%d events, %.0f/s", len(waveOne), float64(len(waveOne))/time.Since(t1).Seconds()))
	checkRSS("after wave one")
	t2 := time.Now()
	acked = append(acked, soakPost(t, p.events("/v1/events"), waveTwo, func(k int) string { return stable(caps.first() + k) })...)
	phase("deploys, wave two", t2, fmt.Sprintf("%d events, %.0f/s", len(waveTwo), float64(len(waveTwo))/time.Since(t2).Seconds()))
	checkRSS("after wave two")
	t3 := time.Now()
	acked = append(acked, soakPost(t, p.events("/v1/events"), canaryIDs, func(k int) string {
		i := canaries[k]
		return fmt.Sprintf(`{"id":%q,"type":"started","attributes":{"service.name":%q,"service.version":"v2","deployment.environment.name":"production"},`+
			`"release":{"previous_version":"v1","strategy":"canary","rollout_percentage":10}}`, soakCanaryID(i), soakService(i))
	})...)
	phase("deploys, canaries", t3, fmt.Sprintf("%d events, %.0f/s", len(canaryIDs), float64(len(canaryIDs))/time.Since(t3).Seconds()))
	require.Len(t, acked, soakServices+len(canaries), "events acknowledged")
	ingest := time.Since(t1)
	t.Logf("deploy ingest: %d events in %s, %.0f events/s", len(acked), ingest.Round(time.Millisecond), float64(len(acked))/ingest.Seconds())
	checkRSS("after the deploys")

	// Telemetry for every service version, round after round (bounded in
	// count and time), while the canaries and the stable releases are
	// evaluated every second.
	var resources [][2]string
	for i := range soakServices {
		resources = append(resources, [2]string{soakService(i), "v1"})
		if caps.canary(i) {
			resources = append(resources, [2]string{soakService(i), "v2"})
		}
	}
	tSpans := time.Now()
	for round := 0; round < soakSpanRounds && time.Since(tSpans) < soakSpanTime; round++ {
		t4 := time.Now()
		soakTraces(t, "http://"+cfgData.OTLPAddr+"/v1/traces", resources)
		n := len(resources) * soakSpansPer
		phase(fmt.Sprintf("spans, round %d", round+1), t4, fmt.Sprintf("%d resources, %d spans, %.0f spans/s", len(resources), n, float64(n)/time.Since(t4).Seconds()))
		checkRSS(fmt.Sprintf("after spans round %d", round+1))
	}
	phase("spans, all rounds", tSpans, "")
	// A few evaluation ticks over the 4,000 canaries.
	time.Sleep(3 * time.Second)
	checkRSS("after 3 s of evaluations")
	peak, anonPeak := rss.Stop()
	hwm, err := procStatusBytes(first.Pid(), "VmHWM")
	require.NoError(t, err)
	t.Logf("RSS peak sampled every 200 ms: %s; VmHWM (kernel's peak): %s; bound %s", mib(peak), mib(hwm), mib(caps.rssBound))
	t.Logf("RssAnon (the collector's own memory) peak: %s", mib(anonPeak))
	if caps.anonBound > 0 {
		assert.Lessf(t, anonPeak, caps.anonBound, "RssAnon peak %s over %s", mib(anonPeak), mib(caps.anonBound))
	}
	if cg != nil {
		kills, err := cg.OOMKills()
		require.NoError(t, err)
		require.Zerof(t, kills, "the kernel killed the collector for the memory cgroup's limit of %s", mib(caps.cgroupLimit))
		peak, err := cg.Peak()
		require.NoError(t, err)
		anon, file, err := cg.Usage()
		require.NoError(t, err)
		t.Logf("memory cgroup: peak charged %s of the %s limit; now %s anonymous, %s file pages", mib(peak), mib(caps.cgroupLimit), mib(anon), mib(file))
	}
	assert.Lessf(t, peak, int64(caps.rssBound), "sampled RSS peak %s over the bound %s", mib(peak), mib(caps.rssBound))
	assert.Lessf(t, hwm, int64(caps.rssBound), "VmHWM %s over the bound %s", mib(hwm), mib(caps.rssBound))

	if cfgData.Pprof != "" {
		t.Logf("profiles at http://%s/debug/pprof/ for 30 s", cfgData.Pprof)
		time.Sleep(30 * time.Second)
	}

	// kill -9 and restart on the same data directory.
	t5 := time.Now()
	first.Kill()
	require.Equal(t, -1, first.ExitCode(), "the first process was killed by SIGKILL")
	second := start()
	phase("kill -9 and restart", t5, "")
	if v, err := procStatusBytes(second.Pid(), "VmRSS"); err == nil {
		t.Logf("RSS after restart (state replayed): %s", mib(v))
		assert.Less(t, v, int64(caps.rssBound))
	}

	// Every release through the paginated list (newest first, 1,000 a
	// page).
	t6 := time.Now()
	got := map[string]apiRelease{}
	total := -1
	for offset := 0; ; offset += 1000 {
		resp := e2etest.Get(t, fmt.Sprintf("%s?limit=1000&offset=%d", p.releasesURL(), offset))
		require.Equalf(t, 200, resp.Status, "%s", resp.Body)
		var page apiReleaseList
		resp.JSON(t, &page)
		if total == -1 {
			total = page.Total
		}
		require.Equal(t, total, page.Total, "total changed between pages")
		for _, r := range page.Releases {
			got[r.ID] = r
		}
		if len(page.Releases) < 1000 {
			break
		}
	}
	phase("read back", t6, fmt.Sprintf("%d releases", len(got)))

	// Kept: every key of wave two (40,000 = max_keys), with its stable
	// release and its canary. Evicted: every key of wave one, the least
	// recently touched idle keys when wave two arrived.
	want := caps.keys + len(canaries)
	require.Equal(t, want, total, "releases after kill -9 and restart")
	require.Len(t, got, want)
	lost := 0
	for i := caps.first(); i < soakServices; i++ {
		r, ok := got[soakStableID(i)]
		if !ok {
			lost++
			continue
		}
		wantStatus := "succeeded"
		assert.Equalf(t, wantStatus, r.Status, "status of %s", r.ID)
		assert.Equal(t, soakService(i), r.Attributes["service.name"])
		if caps.canary(i) {
			c, ok := got[soakCanaryID(i)]
			if !ok {
				lost++
				continue
			}
			assert.Equalf(t, "in_progress", c.Status, "status of %s", c.ID)
			assert.Equalf(t, "v1", c.Release["previous_version"], "previous version of %s", c.ID)
		}
	}
	require.Zero(t, lost, "acknowledged releases within the caps lost across kill -9")
	for i := range caps.first() {
		_, ok := got[soakStableID(i)]
		require.Falsef(t, ok, "%s of wave one should have been evicted", soakStableID(i))
	}
	assert.Equal(t, len(canaries), listReleases(t, p.releasesURL()+"?status=in_progress").Total)
	assert.Equal(t, caps.keys, listReleases(t, p.releasesURL()+"?status=succeeded").Total)
	require.Equal(t, 404, e2etest.Get(t, p.releaseURL(soakStableID(0))).Status)
	phase("total", t0, "")
	require.NoError(t, second.Stop())
}
