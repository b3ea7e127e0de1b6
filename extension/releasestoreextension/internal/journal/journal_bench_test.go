package journal

import (
	"context"
	"fmt"
	"testing"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// BenchmarkAppendEncoded is the cost of one group commit to file_storage
// by the number of records it holds, on a log already as long as the
// store keeps between snapshots at the default caps (about 45,000
// records): what a delivery pays for the commit that acknowledges it.
// The one_key cases write the same records as one value, a layout the
// journal does not use, for comparison.
func BenchmarkAppendEncoded(b *testing.B) {
	rec := eventRecord("deploy-0001", release.EventStarted)
	data, err := Encode(rec)
	if err != nil {
		b.Fatal(err)
	}
	const backlog = 45000
	for _, tc := range []struct {
		records int
		oneKey  bool
	}{{1, false}, {5, false}, {10, false}, {20, false}, {5, true}, {10, true}} {
		name := fmt.Sprintf("records=%d", tc.records)
		if tc.oneKey {
			name = fmt.Sprintf("one_key/records=%d", tc.records)
		}
		b.Run(name, func(b *testing.B) {
			c := fileStorage(b, b.TempDir())()
			defer c.Close(context.Background())
			j, _, _, err := Open(context.Background(), c)
			if err != nil {
				b.Fatal(err)
			}
			batch := make([][]byte, tc.records)
			for i := range batch {
				batch[i] = data
			}
			if tc.oneKey {
				joined := make([]byte, 0, len(data)*tc.records)
				for range tc.records {
					joined = append(joined, data...)
				}
				batch = [][]byte{joined}
			}
			for range backlog / tc.records {
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
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tc.records), "ns/record")
		})
	}
}
