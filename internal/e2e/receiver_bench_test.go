package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/e2etest"
)

const receiverBenchConfig = `
extensions:{{if .Pprof}}
  pprof:
    endpoint: {{.Pprof}}{{end}}
  file_storage:
    directory: {{.DataDir}}
  releasestore:
    endpoint: {{.APIAddr}}
    storage: file_storage
receivers:
  releasemetadata:
    endpoint: {{.EventsAddr}}
  otlp:
    protocols:
      http:
        endpoint: {{.OTLPAddr}}
exporters:
  nop:
service:
  extensions: [file_storage, releasestore{{if .Pprof}}, pprof{{end}}]
  pipelines:
    logs:
      receivers: [releasemetadata, otlp]
      exporters: [nop]
`

// receiverBenchSenders is how many clients send at once, each one event per
// request on a kept-alive connection, as CD systems' webhooks do: 16, or
// OTELCOL_RELEASE_BENCH_SENDERS (a fleet of CD systems sends from more).
func receiverBenchSenders(b *testing.B) int {
	v := os.Getenv("OTELCOL_RELEASE_BENCH_SENDERS")
	if v == "" {
		return 16
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("OTELCOL_RELEASE_BENCH_SENDERS=%q: want a positive number of senders", v)
	}
	return n
}

// BenchmarkReceiverEventsPerSecond measures deploy-event ingest through the
// built collector with file_storage, each event acknowledged only after it
// is committed: one native event per request from 16 concurrent senders (see receiverBenchSenders),
// for events that each start a new service and for events rotating over
// 1,000 services. It reports the events per second seen (the senders, in
// this process, share the machine's cores with the collector) and the
// collector's own CPU per event, from which its capacity per core follows,
// and the senders' CPU per event.
// Run with a fixed count, e.g. -benchtime=20000x (the collector's CPU is
// read in 10 ms ticks).
func BenchmarkReceiverEventsPerSecond(b *testing.B) {
	bin := e2etest.Binary(b)
	senders := receiverBenchSenders(b)
	for _, tc := range []struct {
		name     string
		services int // 0: every event is a new service
		// otlp sends each event as an OTLP/HTTP JSON log record to the
		// stock otlp receiver instead: the comparison, a stock receiver
		// doing the same HTTP and JSON work without storing anything.
		otlp bool
	}{{"new_services", 0, false}, {"rotating_1000", 1000, false}, {"stock_otlp_logs", 0, true}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			data := struct{ DataDir, APIAddr, EventsAddr, OTLPAddr, Pprof string }{
				filepath.Join(dir, "storage"), e2etest.FreeAddr(b), e2etest.FreeAddr(b), e2etest.FreeAddr(b), os.Getenv("OTELCOL_RELEASE_PPROF")}
			require.NoError(b, os.MkdirAll(data.DataDir, 0o700))
			cfg := e2etest.WriteConfig(b, dir, "receiver.yaml", receiverBenchConfig, data)
			p := e2etest.Start(b, bin, e2etest.Options{Dir: dir, Env: isolatedEnv(dir), Args: []string{"--config", cfg}})
			p.RequireReady(startTimeout, "http://"+data.APIAddr+"/api/v1/releases")
			p.RequireListening(startTimeout, data.EventsAddr, data.OTLPAddr)

			addr, path, accepted := data.EventsAddr, "/v1/events", 202
			if tc.otlp {
				addr, path, accepted = data.OTLPAddr, "/v1/logs", 200
			}
			// event appends event n's body to dst.
			event := func(dst []byte, n int64) []byte {
				svc := n
				if tc.services > 0 {
					svc = n % int64(tc.services)
				}
				if tc.otlp {
					return fmt.Appendf(dst, `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc-%d"}},`+
						`{"key":"service.namespace","value":{"stringValue":"shop"}},{"key":"deployment.environment.name","value":{"stringValue":"production"}}]},`+
						`"scopeLogs":[{"logRecords":[{"body":{"stringValue":"deploy %d started"},"attributes":[{"key":"service.version","value":{"stringValue":"v%d"}},`+
						`{"key":"release.strategy","value":{"stringValue":"canary"}}]}]}]}]}`, svc, n, n)
				}
				return fmt.Appendf(dst, `{"id":"%s-%d","type":"started","attributes":{"service.name":"svc-%d","service.namespace":"shop",`+
					`"service.version":"v%d","deployment.environment.name":"production"},"release":{"strategy":"canary","rollout_percentage":10}}`,
					tc.name, n, svc, n)
			}
			// run sends events first..last, numbered so that each is new,
			// and returns how long each request took, in no order.
			run := func(first, last int64) []time.Duration {
				var seq atomic.Int64
				seq.Store(first - 1)
				var wg sync.WaitGroup
				var failed atomic.Pointer[error]
				took := make([][]time.Duration, senders)
				for s := range senders {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c, err := dialHTTP1(addr)
						if err != nil {
							failed.Store(&err)
							return
						}
						defer c.Close()
						var body []byte
						took[s] = make([]time.Duration, 0, (last-first+1)/int64(senders)+1)
						for failed.Load() == nil {
							i := seq.Add(1)
							if i > last {
								return
							}
							body = event(body[:0], i)
							start := time.Now()
							if err := c.post(path, body, accepted); err != nil {
								failed.Store(&err)
							}
							took[s] = append(took[s], time.Since(start))
						}
					}()
				}
				wg.Wait()
				if err := failed.Load(); err != nil {
					b.Fatal(*err)
				}
				return slices.Concat(took...)
			}
			const warmUp = 500 // connections open, first pages of the journal written
			run(1, warmUp)
			before, sendersBefore := processCPU(b, p.Pid()), processCPU(b, os.Getpid())
			b.ResetTimer()
			took := run(warmUp+1, warmUp+int64(b.N))
			b.StopTimer()
			cpu := processCPU(b, p.Pid()) - before
			// The senders are this process: what they take of the shared
			// cores, the kernel's loopback work for their requests included.
			senderCPU := processCPU(b, os.Getpid()) - sendersBefore
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "collector-cpu-µs/event")
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/collector-cpu-s")
			b.ReportMetric(float64(senderCPU.Microseconds())/float64(b.N), "sender-cpu-µs/event")
			// What a sender waits for its answer: the group commit and
			// compactions show in the tail.
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// http1Conn is a minimal HTTP/1.1 client on one kept-alive connection, so
// that the load generator, on the same cores as the collector, takes as
// little of them as it can (net/http's client costs about as much CPU per
// request as a stock receiver's handling of it).
type http1Conn struct {
	conn  net.Conn
	r     *bufio.Reader
	host  string
	buf   []byte
	reply []byte
}

func dialHTTP1(addr string) (*http1Conn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &http1Conn{conn: conn, r: bufio.NewReaderSize(conn, 4096), host: addr}, nil
}

func (c *http1Conn) Close() error { return c.conn.Close() }

// post sends one JSON body and reads the answer, which must have status
// want.
func (c *http1Conn) post(path string, body []byte, want int) error {
	c.buf = fmt.Appendf(c.buf[:0], "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, c.host, len(body))
	c.buf = append(c.buf, body...)
	if _, err := c.conn.Write(c.buf); err != nil {
		return err
	}
	// Parsed in place, without allocating: "HTTP/1.1 202 Accepted".
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	code := 0
	if f := bytes.Fields(line); len(f) >= 2 {
		code = atoi(f[1])
	}
	status := ""
	if code != want {
		status = string(line) // for the error below: the next read overwrites line
	}
	length := -1
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			length = atoi(bytes.TrimSpace(v))
		}
	}
	if length < 0 {
		return fmt.Errorf("answer %d without Content-Length", code)
	}
	c.reply = slices.Grow(c.reply[:0], length)[:length]
	if _, err := io.ReadFull(c.r, c.reply); err != nil {
		return err
	}
	if code != want {
		return fmt.Errorf("answered %q: %s", status, c.reply)
	}
	return nil
}

// atoi reads a non-negative decimal number; -1 if b holds none.
func atoi(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	n := 0
	for _, d := range b {
		if d < '0' || d > '9' {
			return -1
		}
		n = n*10 + int(d-'0')
	}
	return n
}
