package journal

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// BenchmarkAppendEncoded is the cost of one group commit to file_storage
// by the number of records it holds (one log entry, an array of them when
// more than one), on a log already as long as the store keeps between
// snapshots at the default caps (about 45,000 records): what a delivery
// pays for the commit that acknowledges it.
func BenchmarkAppendEncoded(b *testing.B) {
	rec := eventRecord("deploy-0001", release.EventStarted)
	data, err := Encode(rec)
	if err != nil {
		b.Fatal(err)
	}
	const backlog = 45000
	for _, records := range []int{1, 5, 10, 20} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) {
			c := fileStorage(b, b.TempDir())()
			defer c.Close(context.Background())
			j, _, _, err := Open(context.Background(), c)
			if err != nil {
				b.Fatal(err)
			}
			batch := make([][]byte, records)
			for i := range batch {
				batch[i] = data
			}
			for range backlog / records {
				if err := j.AppendEncoded(context.Background(), batch...); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if err := j.AppendEncoded(context.Background(), batch...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
		})
	}
}

// BenchmarkCompaction is the storage batch a compaction writes: a 19 MiB
// snapshot (about the rotating receiver load's 20,000 releases and 100,000
// remembered deliveries) and the deletion of the log it covers, 65,000
// records in commits of five, on file_storage. The batch holds storage's
// writer lock, so every commit waits for it. Run with a fixed count, e.g.
// -benchtime=3x: each run first writes its log.
func BenchmarkCompaction(b *testing.B) {
	data, err := Encode(eventRecord("deploy-0001", release.EventStarted))
	if err != nil {
		b.Fatal(err)
	}
	commit := [][]byte{data, data, data, data, data}
	state := append(append([]byte{'"'}, bytes.Repeat([]byte{'a'}, 19<<20)...), '"')
	for b.Loop() {
		b.StopTimer()
		c := fileStorage(b, b.TempDir())()
		j, _, _, err := Open(context.Background(), c)
		if err != nil {
			b.Fatal(err)
		}
		for range 65000 / len(commit) {
			if err := j.AppendEncoded(context.Background(), commit...); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := j.Compact(context.Background(), state); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = c.Close(context.Background())
		b.StartTimer()
	}
}
