package metricattrs

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

type pair struct{ source, outcome string }

func TestOptionsCarryTheirAttributes(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	counter, err := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("t").Int64Counter("events")
	require.NoError(t, err)
	built := 0
	c := New(func(p pair) []attribute.KeyValue {
		built++
		return []attribute.KeyValue{attribute.String("source", p.source), attribute.String("outcome", p.outcome)}
	})
	for range 3 {
		counter.Add(context.Background(), 1, c.Option(pair{"github", "accepted"}))
		counter.Add(context.Background(), 2, c.Option(pair{"native", "rejected"}))
	}
	assert.Equal(t, 2, built, "each combination is built once")

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]int64{}
	for _, dp := range rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64]).DataPoints {
		s, _ := dp.Attributes.Value("source")
		o, _ := dp.Attributes.Value("outcome")
		got[s.AsString()+"/"+o.AsString()] = dp.Value
	}
	assert.Equal(t, map[string]int64{"github/accepted": 3, "native/rejected": 6}, got)
}

func TestCacheIsBounded(t *testing.T) {
	c := New(func(i int) []attribute.KeyValue { return []attribute.KeyValue{attribute.Int("i", i)} })
	for i := range 2 * maxCached {
		o := c.Option(i)
		require.NotNil(t, o, fmt.Sprint(i))
	}
	assert.EqualValues(t, maxCached, c.size.Load())
}
