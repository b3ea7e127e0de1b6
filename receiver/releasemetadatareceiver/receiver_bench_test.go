package releasemetadatareceiver

import (
	"github.com/otelcol-release/otelcol-release/internal/testhost"

	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension"
)

// startPersistentStore starts file_storage and a release store on it, as
// the default config does.
func startPersistentStore(b *testing.B) releasestoreextension.Store {
	ctx := context.Background()
	ff := filestorage.NewFactory()
	fcfg := ff.CreateDefaultConfig().(*filestorage.Config)
	fcfg.Directory = b.TempDir()
	fs, err := ff.Create(ctx, extensiontest.NewNopSettings(ff.Type()), fcfg)
	require.NoError(b, err)
	require.NoError(b, fs.Start(ctx, componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, fs.Shutdown(ctx)) })

	sf := releasestoreextension.NewFactory()
	scfg := sf.CreateDefaultConfig().(*releasestoreextension.Config)
	scfg.NetAddr.Endpoint = freeAddr(b)
	fsID := component.NewID(ff.Type())
	scfg.Storage = &fsID
	st, err := sf.Create(ctx, extensiontest.NewNopSettings(sf.Type()), scfg)
	require.NoError(b, err)
	require.NoError(b, st.Start(ctx, testhost.New(map[component.ID]component.Component{fsID: fs})))
	b.Cleanup(func() { require.NoError(b, st.Shutdown(ctx)) })
	return st.(releasestoreextension.Store)
}

// BenchmarkReceiverNativeEvents posts native deploy events over loopback
// HTTP, from several concurrent senders, through validation, the store with
// file_storage persistence (each event written to the log before the 202),
// and log record emission. It reports events per second.
func BenchmarkReceiverNativeEvents(b *testing.B) {
	for _, persistent := range []bool{true, false} {
		name := "memory"
		if persistent {
			name = "file_storage"
		}
		b.Run(name, func(b *testing.B) {
			var st releasestoreextension.Store
			if persistent {
				st = startPersistentStore(b)
			}
			h := startHarness(b, nil, st)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var seq atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(4) // 8 senders on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					body := []byte(fmt.Sprintf(`{"id":"bench-%d","type":"started","time":"2026-11-24T10:00:00Z",
					  "attributes":{"service.name":"svc-%d","service.version":"v%d","deployment.environment.name":"production"},
					  "release":{"strategy":"canary","rollout_percentage":10}}`, n, n%1000, n))
					resp, err := client.Post(h.url+"/v1/events", "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			client.CloseIdleConnections()
		})
	}
}
