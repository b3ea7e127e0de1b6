package pgshared

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two holders race for 100 names from several goroutines each: every name ends
// with exactly one holder, and every answer agrees with the final state.
func TestAcquireRace(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	dbs := map[string]*DB{"a": openDB(t, schema), "b": openDB(t, schema)}
	ctx := testCtx(t)
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("eval:%03d", i)
	}

	var mu sync.Mutex
	won := map[string]map[string]bool{} // name -> holders that saw themselves win
	var wg sync.WaitGroup
	for holder, db := range dbs {
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Different orders, so that the statements really contend.
				order := make([]string, len(names))
				for i := range names {
					order[i] = names[(i+g*37)%len(names)]
				}
				if g%2 == 1 {
					slices.Reverse(order)
				}
				got, err := db.Acquire(ctx, holder, order, time.Minute)
				if !assert.NoError(t, err) {
					return
				}
				assert.Len(t, got, len(names))
				mu.Lock()
				defer mu.Unlock()
				for n, l := range got {
					assert.Equal(t, n, l.Name)
					assert.Contains(t, []string{"a", "b"}, l.Holder)
					assert.Equal(t, int64(1), l.Epoch, "the holder never changed")
					if l.Holder == holder {
						if won[n] == nil {
							won[n] = map[string]bool{}
						}
						won[n][holder] = true
					}
				}
			}()
		}
	}
	wg.Wait()
	require.Len(t, won, len(names))
	for n, hs := range won {
		require.Len(t, hs, 1, "name %s had two holders", n)
	}
	// The final state agrees.
	final, err := dbs["a"].Acquire(ctx, "c", names, time.Minute)
	require.NoError(t, err)
	for n, l := range final {
		require.True(t, won[n][l.Holder], "%s: %+v", n, l)
	}
}

func TestLeaseExpiryRenewRelease(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := testCtx(t)
	const ttl = 200 * time.Millisecond

	got, err := db.Acquire(ctx, "a", []string{"x", "y"}, ttl)
	require.NoError(t, err)
	require.Equal(t, "a", got["x"].Holder)
	require.Equal(t, int64(1), got["x"].Epoch)
	require.WithinDuration(t, time.Now().Add(ttl), got["x"].Expires, 5*time.Second)

	// Held: b cannot take it, and sees a's lease.
	got, err = db.Acquire(ctx, "b", []string{"x"}, ttl)
	require.NoError(t, err)
	require.Equal(t, "a", got["x"].Holder)

	// a keeps y by renewing; x it does not renew... but Renew renews all of a's,
	// so renew both a few times, then only stop.
	for range 3 {
		time.Sleep(ttl / 2)
		held, err := db.Renew(ctx, "a", ttl)
		require.NoError(t, err)
		require.Equal(t, []string{"x", "y"}, held)
	}
	got, err = db.Acquire(ctx, "b", []string{"x", "y"}, ttl)
	require.NoError(t, err)
	require.Equal(t, "a", got["x"].Holder, "renewed past the first ttl")
	require.Equal(t, "a", got["y"].Holder)

	// No renewal: after the ttl the other holder takes it, with the next epoch.
	time.Sleep(ttl + 50*time.Millisecond)
	held, err := db.Renew(ctx, "a", ttl)
	require.NoError(t, err)
	require.Empty(t, held, "expired leases are not renewed")
	got, err = db.Acquire(ctx, "b", []string{"x"}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, "b", got["x"].Holder)
	require.Equal(t, int64(2), got["x"].Epoch)

	// Holding again extends without a new epoch.
	got, err = db.Acquire(ctx, "b", []string{"x"}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, int64(2), got["x"].Epoch)

	// Release frees it at once.
	got, err = db.Acquire(ctx, "b", []string{"z"}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, "b", got["z"].Holder)
	require.NoError(t, db.ReleaseLeases(ctx, "b", []string{"x"}))
	held, err = db.Renew(ctx, "b", time.Minute)
	require.NoError(t, err)
	require.Equal(t, []string{"z"}, held)
	got, err = db.Acquire(ctx, "a", []string{"x", "z"}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, "a", got["x"].Holder)
	require.Equal(t, int64(3), got["x"].Epoch)
	require.Equal(t, "b", got["z"].Holder)

	// nil: all of the holder's.
	require.NoError(t, db.ReleaseLeases(ctx, "b", nil))
	held, err = db.Renew(ctx, "b", time.Minute)
	require.NoError(t, err)
	require.Empty(t, held)
	got, err = db.Acquire(ctx, "a", []string{"z"}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, "a", got["z"].Holder)

	// Empty and duplicate names.
	got, err = db.Acquire(ctx, "a", nil, time.Minute)
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = db.Acquire(ctx, "a", []string{"w", "w"}, time.Minute)
	require.NoError(t, err)
	require.Len(t, got, 1)
}
