package testhost

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
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

// PostgresServer is a PostgreSQL cluster of a test's own, on a loopback
// port, for tests that stop and restart the server under a running fleet:
// the shared test server cannot be restarted while other packages use it.
type PostgresServer struct {
	t    testing.TB
	bin  string // directory of initdb, pg_ctl
	dir  string // cluster data directory
	log  string
	port int
}

// StartPostgres initialises a cluster in a temporary directory and starts
// it, with Debian's PostgreSQL binaries (which `make test` installs). The
// test is skipped where PostgresEnv is unset, as the other PostgreSQL
// tests are, and fails when it is set but the binaries are missing.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	PostgresDSN(t)
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Fatal("no /usr/lib/postgresql/*/bin/pg_ctl; .ci/unleash.sh installs PostgreSQL")
	}
	sort.Strings(bins)
	// Under /tmp rather than t.TempDir(): the server runs as the postgres
	// user, which must own its data directory and reach it.
	dir, err := os.MkdirTemp("", "otelcol-release-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &PostgresServer{t: t, bin: filepath.Dir(bins[len(bins)-1]), dir: dir, log: filepath.Join(dir, "server.log")}
	t.Cleanup(func() {
		_ = s.pg("pg_ctl", "-D", s.data(), "-m", "immediate", "stop")
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		if err := exec.Command("chown", "postgres", dir).Run(); err != nil {
			t.Fatalf("chown %s: %v", dir, err)
		}
	}
	if err := s.pg("initdb", "-D", s.data(), "-A", "trust", "-U", "postgres"); err != nil {
		t.Fatalf("initdb: %v", err)
	}
	_, port, _ := net.SplitHostPort(FreeEndpoint(t))
	s.port, _ = strconv.Atoi(port)
	s.Start()
	return s
}

func (s *PostgresServer) data() string { return filepath.Join(s.dir, "data") }

// pg runs one of the server's programs, as the postgres user when root.
func (s *PostgresServer) pg(prog string, args ...string) error {
	cmd := exec.Command(filepath.Join(s.bin, prog), args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(s.bin, prog)}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %w\n%s", prog, args, err, out)
	}
	return nil
}

// DSN is the server's connection string.
func (s *PostgresServer) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Start starts the (stopped) server on its port and waits until it accepts
// connections.
func (s *PostgresServer) Start() {
	s.t.Helper()
	err := s.pg("pg_ctl", "-D", s.data(), "-l", s.log, "-w", "-t", "60",
		"-o", fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=''", s.port), "start")
	if err != nil {
		b, _ := os.ReadFile(s.log)
		s.t.Fatalf("starting PostgreSQL: %v\n%s", err, b)
	}
}

// Stop stops the server as an operator's restart does (fast shutdown:
// clients are disconnected, nothing committed is lost).
func (s *PostgresServer) Stop() {
	s.t.Helper()
	if err := s.pg("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "stop"); err != nil {
		s.t.Fatalf("stopping PostgreSQL: %v", err)
	}
}
