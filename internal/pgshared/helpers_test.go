package pgshared

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// dsnEnv names the environment variable holding the test server's DSN.
const dsnEnv = "OTELCOL_RELEASE_TEST_POSTGRES"

// testDSN returns the DSN of the test server, or skips the test.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skip(dsnEnv + " is not set; `make test` sets it (and CI does), starting a PostgreSQL via .ci/unleash.sh")
	}
	return dsn
}

// testSchema returns a fresh random schema name and drops that schema when
// the test ends, so tests can run in parallel on one server.
func testSchema(t *testing.T) string {
	t.Helper()
	dsn := testDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pgshared_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
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
