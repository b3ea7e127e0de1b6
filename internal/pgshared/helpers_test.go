package pgshared

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

// testDSN returns the test server's DSN, or skips the test.
func testDSN(t *testing.T) string { return testhost.PostgresDSN(t) }

// testSchema returns a fresh schema, dropped when the test ends.
func testSchema(t *testing.T) string {
	_, schema := testhost.PostgresSchema(t, "pgshared_test")
	return schema
}

// openDB opens a *DB on schema (a pool of its own, like one replica), closed
// when the test ends.
func openDB(t *testing.T, schema string) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := Open(ctx, Options{DSN: testDSN(t), Schema: schema, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return db
}

// newDB opens a *DB on a fresh schema.
func newDB(t *testing.T) *DB {
	t.Helper()
	return openDB(t, testSchema(t))
}

// testCtx is a context for one test's calls.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
