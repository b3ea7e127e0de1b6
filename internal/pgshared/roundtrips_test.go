package pgshared

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// Each statement sent is one round trip; a transaction counts its BEGIN and
// COMMIT too.
func TestRoundTripsCountEachRequest(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// One connection, so that the statement cache is warm after one call.
	db, err := Open(octx, Options{DSN: testDSN(t), Schema: testSchema(t), MaxConns: 1, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	t.Cleanup(db.Close)

	require.NoError(t, db.Heartbeat(ctx, "gw-0", []byte(`{}`)))
	before := db.RoundTrips()
	for range 10 {
		require.NoError(t, db.Heartbeat(ctx, "gw-0", []byte(`{}`)))
	}
	require.Equal(t, before+10, db.RoundTrips(), "one round trip per heartbeat")

	tx, err := db.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SELECT 1")
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, before+13, db.RoundTrips(), "BEGIN, the statement and COMMIT")
}
