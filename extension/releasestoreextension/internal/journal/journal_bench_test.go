package journal

import (
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
