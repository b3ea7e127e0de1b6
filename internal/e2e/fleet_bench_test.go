package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

// BenchmarkFleetCPUPerSpan is BenchmarkPipelineCPUPerSpan's detecting
// pipeline on one collector against a fleet of three sharing one
// PostgreSQL, the same exports sent round robin over the replicas, a
// canary under evaluation. It reports the CPU per span of all collector
// processes together (PostgreSQL's own CPU is not counted) and, for the
// fleet, the requests each replica sent to the database per second, as its
// /api/v1/fleet counts them, idle (before the deploy) and under evaluation.
// Run with a fixed count, e.g. -benchtime=3000x; needs
// OTELCOL_RELEASE_TEST_POSTGRES (`make bench` starts the server).
func BenchmarkFleetCPUPerSpan(b *testing.B) {
	bin := e2etest.Binary(b)
	bodies := pipelineBatches(5)
	for _, replicas := range []int{1, 3} {
		name := "single"
		if replicas > 1 {
			name = fmt.Sprintf("fleet-of-%d", replicas)
		}
		b.Run(name, func(b *testing.B) {
			// A schema per run of the fleet (b.Run runs a sub-benchmark more
			// than once, and -count repeats it), dropped after it.
			var dsn, schema string
			if replicas > 1 {
				dsn, schema = testhost.PostgresSchema(b, "bench_fleet")
			}
			type replica struct {
				proc        *e2etest.Process
				api, otlp   string
				eventsAddr  string
				roundTrips0 int64
			}
			var reps []*replica
			for i := range replicas {
				dir := b.TempDir()
				rep := &replica{api: e2etest.FreeAddr(b), otlp: e2etest.FreeAddr(b), eventsAddr: e2etest.FreeAddr(b)}
				cfg := fmt.Sprintf(pipelineConfig, rep.api, rep.otlp, rep.eventsAddr, "releasecorrelation, batch", "", "")
				if replicas > 1 {
					cfg = strings.Replace(cfg, "    endpoint: "+rep.api+"\n", fmt.Sprintf(
						"    endpoint: %s\n    shared:\n      postgresql:\n        dsn: %s\n        schema: %s\n      replica: gw-%d\n",
						rep.api, dsn, schema, i), 1)
				}
				path := filepath.Join(dir, "pipeline.yaml")
				require.NoError(b, os.WriteFile(path, []byte(cfg), 0o600))
				rep.proc = e2etest.Start(b, bin, e2etest.Options{Dir: dir, Args: []string{"--config", path}, Env: isolatedEnv(dir)})
				rep.proc.RequireReady(startTimeout, "http://"+rep.api+"/api/v1/releases")
				rep.proc.RequireListening(startTimeout, rep.otlp, rep.eventsAddr)
				reps = append(reps, rep)
			}
			roundTrips := func(rep *replica) int64 {
				if replicas == 1 {
					return 0
				}
				var st struct {
					RoundTrips int64 `json:"round_trips"`
				}
				e2etest.Get(b, "http://"+rep.api+"/api/v1/fleet").JSON(b, &st)
				return st.RoundTrips
			}
			// Idle first: started, nothing under evaluation, no traffic.
			// (The second read of each count took one request of its own.)
			var idleRate float64
			if replicas > 1 {
				idle0 := make([]int64, len(reps))
				for i, rep := range reps {
					idle0[i] = roundTrips(rep)
				}
				const idleFor = 5 * time.Second
				time.Sleep(idleFor)
				var idle int64
				for i, rep := range reps {
					idle += roundTrips(rep) - idle0[i] - 1
				}
				idleRate = float64(idle) / float64(len(reps)) / idleFor.Seconds()
			}
			resp := e2etest.PostJSON(b, "http://"+reps[0].eventsAddr+"/v1/events", []byte(`{"id":"deploy-bench","type":"started",
			  "attributes":{"service.name":"checkout","service.namespace":"shop","service.version":"v1.4.2","deployment.environment.name":"production"},
			  "release":{"previous_version":"v1.4.1","strategy":"canary","rollout_percentage":25}}`))
			require.Equal(b, 202, resp.Status)
			send := func(i int) {
				rep := reps[i%len(reps)]
				resp := e2etest.Do(b, "POST", "http://"+rep.otlp+"/v1/traces", bodies[i%len(bodies)], "Content-Type", "application/x-protobuf")
				if resp.Status != 200 {
					b.Fatalf("OTLP export answered %d: %s", resp.Status, resp.Body)
				}
			}
			for i := 0; i < 200; i++ {
				send(i)
			}
			cpu := func() (d time.Duration) {
				for _, rep := range reps {
					d += processCPU(b, rep.proc.Pid())
				}
				return d
			}
			for _, rep := range reps {
				rep.roundTrips0 = roundTrips(rep)
			}
			before, start := cpu(), time.Now()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				send(i)
			}
			b.StopTimer()
			used, elapsed := cpu()-before, time.Since(start)
			b.ReportMetric(float64(used.Nanoseconds())/float64(b.N*1000), "cpu-ns/span")
			if replicas > 1 {
				var trips int64
				for _, rep := range reps {
					trips += roundTrips(rep) - rep.roundTrips0
				}
				// The second read of each replica's count took one request
				// of its own (the first read's came before its count).
				trips -= int64(len(reps))
				b.ReportMetric(float64(trips)/float64(len(reps))/elapsed.Seconds(), "db-trips/replica/s")
				// Reported here: ResetTimer drops metrics reported before it.
				b.ReportMetric(idleRate, "db-trips-idle/replica/s")
			}
			for _, rep := range reps {
				require.NoError(b, rep.proc.Stop())
			}
		})
	}
}
