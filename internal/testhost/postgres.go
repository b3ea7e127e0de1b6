package testhost

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresEnv names the environment variable holding the DSN of the real
// PostgreSQL that `make test` starts (.ci/unleash.sh) for the fleet tests.
const PostgresEnv = "OTELCOL_RELEASE_TEST_POSTGRES"

// PostgresDSN returns the test server's DSN, or skips the test.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		t.Skip(PostgresEnv + " is not set; `make test` sets it (and CI does), starting a PostgreSQL via .ci/unleash.sh")
	}
	return dsn
}

// PostgresSchema returns the DSN and a fresh schema named prefix_<random>,
// dropped when the test ends, so tests share one server in parallel as
// fleets of their own.
func PostgresSchema(t testing.TB, prefix string) (dsn, schema string) {
	t.Helper()
	dsn = PostgresDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = prefix + "_" + hex.EncodeToString(b[:])
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
	return dsn, schema
}
