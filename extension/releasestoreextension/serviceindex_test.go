package releasestoreextension

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func TestServiceIndex(t *testing.T) {
	x := newServiceIndex()
	key := func(i int) release.ServiceKey { return serviceKey(fmt.Sprintf("svc-%d", i)) }
	views := map[int]*ServiceView{}
	assert.Nil(t, x.lookup(key(0)))
	// Enough services to rebuild the table several times, removing every
	// third one and bringing some back, as evictions and new deploys do.
	for i := range 5000 {
		views[i] = &ServiceView{Service: key(i)}
		x.set(key(i), views[i])
		if i%3 == 0 {
			x.set(key(i/2), nil)
			delete(views, i/2)
		}
		if i%7 == 0 && i > 0 {
			views[i/7] = &ServiceView{Service: key(i / 7)}
			x.set(key(i/7), views[i/7])
		}
	}
	for i := range 5000 {
		assert.Same(t, views[i], x.lookup(key(i)), "svc-%d", i)
	}
	assert.Equal(t, len(views), x.live)
	assert.LessOrEqual(t, x.used*4, len(x.table.Load().slots)*3, "tombstones are dropped on rebuild")
	x.set(serviceKey("absent"), nil)
	assert.Equal(t, len(views), x.live, "removing an absent service changes nothing")

	x.reset(map[release.ServiceKey]*ServiceView{key(1): views[1]})
	assert.Same(t, views[1], x.lookup(key(1)))
	assert.Nil(t, x.lookup(key(4999)))
}

// TestServiceIndexConcurrentReaders has readers look up services that are
// always present while the writer adds, replaces and removes others and the
// table is rebuilt under them (run with -race).
func TestServiceIndexConcurrentReaders(t *testing.T) {
	x := newServiceIndex()
	const stable = 100
	stableView := make([]*ServiceView, stable)
	for i := range stable {
		stableView[i] = &ServiceView{Service: serviceKey(fmt.Sprintf("stable-%d", i))}
		x.set(stableView[i].Service, stableView[i])
	}
	var (
		stop   atomic.Bool
		wg     sync.WaitGroup
		misses atomic.Int64
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				if x.lookup(stableView[n%stable].Service) == nil {
					misses.Add(1)
				}
			}
		}()
	}
	for i := range 20000 {
		k := serviceKey(fmt.Sprintf("churn-%d", i))
		x.set(k, &ServiceView{Service: k})
		if i >= 50 {
			x.set(serviceKey(fmt.Sprintf("churn-%d", i-50)), nil)
		}
		if i%10 == 0 {
			v := &ServiceView{Service: stableView[i%stable].Service}
			x.set(v.Service, v)
		}
	}
	stop.Store(true)
	wg.Wait()
	assert.Zero(t, misses.Load(), "a present service is never missed")
	require.Equal(t, stable+50, x.live)
	assert.Less(t, len(x.table.Load().slots), 4096, "the table follows the live services, not the services ever seen")
}
