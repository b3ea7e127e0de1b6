// Package metricattrs caches the attribute options of counters recorded
// per event. metric.WithAttributes copies, sorts and hashes its attributes
// on every call; the counters counted per delivery take their attributes
// from a few dozen combinations (source, outcome, reason), so each
// combination's set is built once.
package metricattrs

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// maxCached bounds the cache should a caller pass values from an open set:
// past it, options are built per call, as without the cache.
const maxCached = 256

// Cache maps a combination of attribute values, K, to its option.
type Cache[K comparable] struct {
	build func(K) []attribute.KeyValue
	opts  sync.Map // K -> metric.MeasurementOption
	size  atomic.Int32
}

// New returns a cache whose options hold the attributes build gives.
func New[K comparable](build func(K) []attribute.KeyValue) *Cache[K] {
	return &Cache[K]{build: build}
}

// Option is the measurement option for k.
func (c *Cache[K]) Option(k K) metric.MeasurementOption {
	if o, ok := c.opts.Load(k); ok {
		return o.(metric.MeasurementOption)
	}
	o := metric.WithAttributeSet(attribute.NewSet(c.build(k)...))
	if c.size.Load() < maxCached {
		if _, loaded := c.opts.LoadOrStore(k, o); !loaded {
			c.size.Add(1)
		}
	}
	return o
}
