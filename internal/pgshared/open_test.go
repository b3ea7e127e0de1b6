package pgshared

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Replicas starting together on a fresh schema must not trip over each other's
// CREATE ... IF NOT EXISTS.
func TestOpenConcurrentMigration(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	const n = 4
	var wg sync.WaitGroup
	dbs := make([]*DB, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dbs[i], errs[i] = Open(ctx, Options{DSN: testDSN(t), Schema: schema, MaxConns: 2})
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		t.Cleanup(dbs[i].Close)
	}
	ctx := testCtx(t)
	for _, db := range dbs {
		require.NoError(t, db.Ping(ctx))
		h, err := db.Head(ctx)
		require.NoError(t, err)
		require.Zero(t, h)
	}
	// Opening again on an existing schema is fine too.
	openDB(t, schema)
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	testDSN(t) // only where a server is configured, like the rest
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Open(ctx, Options{DSN: "postgres://postgres:sekret@127.0.0.1:1/postgres?sslmode=disable"})
	require.Error(t, err)
	require.Less(t, time.Since(start), 3*time.Second)
	require.Contains(t, err.Error(), "127.0.0.1:1")
	require.NotContains(t, err.Error(), "sekret")
	t.Log(err)
}

func TestOpenBadDSN(t *testing.T) {
	t.Parallel()
	_, err := Open(context.Background(), Options{DSN: "postgres://postgres:sekret@127.0.0.1:notaport/x"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "sekret")
}

func TestChannelName(t *testing.T) {
	require.Equal(t, "otelcol_release.log", channelName(DefaultSchema))
	long := channelName(strings.Repeat("s", 63))
	require.LessOrEqual(t, len(long), 63)
	require.NotEqual(t, long, channelName(strings.Repeat("t", 63)))
}
