package releasestoreextension

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func seriesPoint(at time.Duration) release.SeriesPoint {
	return release.SeriesPoint{At: t0.Add(at), Signals: []release.SignalPoint{{Signal: "error_rate", Candidate: 0.01}}}
}

// TestSeriesCapEvictsLeastRecentlyRecorded: past maxSeriesReleases, a new
// series evicts the one recorded longest ago, never one that keeps getting
// points (a release under evaluation); evictions are counted.
func TestSeriesCapEvictsLeastRecentlyRecorded(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	s := env{tel: tel}.start(t)
	id := func(i int) string { return fmt.Sprintf("r-%d", i) }
	const extra = 10
	for i := range maxSeriesReleases + extra {
		s.RecordSeries(id(i), seriesPoint(time.Duration(i)*time.Second))
		s.RecordSeries("evaluating", seriesPoint(time.Duration(i)*time.Second))
	}
	// "evaluating" took the first slot; each series after the cap evicted
	// the oldest other one.
	for i := range extra + 1 {
		assert.Empty(t, s.Series(id(i)), id(i))
	}
	for i := extra + 1; i < maxSeriesReleases+extra; i++ {
		require.Len(t, s.Series(id(i)), 1, id(i))
	}
	assert.Len(t, s.Series("evaluating"), maxSeriesPoints, "an hour of points, not more")
	got := s.Series("evaluating")
	assert.Equal(t, t0.Add(time.Duration(maxSeriesReleases+extra-maxSeriesPoints)*time.Second), got[0].At, "oldest first")
	assert.Equal(t, t0.Add(time.Duration(maxSeriesReleases+extra-1)*time.Second), got[len(got)-1].At)
	assert.Equal(t, int64(extra+1), metricValue(t, tel, "otelcol.releasestore.evictions", attribute.String("kind", "series")))

	// Series returns a copy.
	got[0].At = time.Time{}
	assert.False(t, s.Series("evaluating")[0].At.IsZero())
}
