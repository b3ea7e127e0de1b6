// Package pgshared is the state a fleet of collector replicas (gateways
// behind a load balancer) shares: an ordered log of state records with
// snapshots, leases, a key-value area with claims, and per-replica
// statistics.
//
// It lives in PostgreSQL because PostgreSQL is durable, transactional (the log
// gets a total order and claims and leases are decided atomically by the
// database, on the database's clock), has LISTEN/NOTIFY (replicas learn of new
// records at commit instead of by polling alone), and is widely run, so an
// operator already has one, backed up and monitored.
//
// Every table lives in one schema (Options.Schema), so several fleets, or
// tests, can share a server.
package pgshared

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// DefaultSchema is the schema used when Options.Schema is empty.
const DefaultSchema = "otelcol_release"

// defaultMaxConns is the pool size when Options.MaxConns is not positive.
const defaultMaxConns = 4

// Options configure Open.
type Options struct {
	// DSN is a pgx connection string or URL.
	DSN string
	// Schema holds the tables; it is created if missing. Default "otelcol_release".
	Schema string
	// MaxConns is the pool size; default 4. Listen uses a connection of its own
	// on top of these.
	MaxConns int32
	// Logger; nil means zap.NewNop().
	Logger *zap.Logger
}

// DB is a handle on the shared state. It is safe for concurrent use.
type DB struct {
	pool    *pgxpool.Pool
	log     *zap.Logger
	schema  string // unquoted
	schemaQ string // quoted identifier, for SQL text
	channel string // NOTIFY channel of the log
	where   string // host:port, for error messages
	trips   *roundTripCounter
}

// pingIdle is how long a pooled connection may sit idle before it is
// checked with a ping when handed out (pgxpool's own rule): after a
// database restart, a dead connection is found by the ping and replaced,
// rather than failing a deploy event's write or a lease renewal.
const pingIdle = time.Second

// Open connects to PostgreSQL with a pgxpool, pings it and creates the schema
// and tables if they are missing. The DDL runs under a transaction-scoped
// advisory lock, so replicas starting together do not race on it. Errors name
// the server's host and port, never the password.
func Open(ctx context.Context, o Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(o.DSN)
	if err != nil {
		// pgx redacts the password in parse errors.
		return nil, fmt.Errorf("pgshared: invalid PostgreSQL DSN: %w", err)
	}
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if o.MaxConns <= 0 {
		o.MaxConns = defaultMaxConns
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	cfg.MaxConns = o.MaxConns
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "otelcol-release"
	}
	where := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
	db := &DB{
		log:     o.Logger,
		schema:  o.Schema,
		schemaQ: pgx.Identifier{o.Schema}.Sanitize(),
		channel: channelName(o.Schema),
		where:   where,
		trips:   &roundTripCounter{},
	}
	cfg.ConnConfig.Tracer = db.trips
	// Ping a connection idle for more than pingIdle before handing it out,
	// and count the pings, which the tracer does not see.
	cfg.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool {
		ping := p.IdleDuration > pingIdle
		if ping {
			db.trips.n.Add(1)
		}
		return ping
	}
	db.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgshared: PostgreSQL at %s: %w", where, err)
	}
	if err := db.pool.Ping(ctx); err != nil {
		db.pool.Close()
		return nil, fmt.Errorf("pgshared: cannot reach PostgreSQL at %s: %w", where, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.pool.Close()
		return nil, fmt.Errorf("pgshared: creating schema %q on PostgreSQL at %s: %w", o.Schema, where, err)
	}
	return db, nil
}

// channelName is the NOTIFY channel of a schema's log. PostgreSQL limits
// channel names to 63 bytes; a longer schema name falls back to a hash.
func channelName(schema string) string {
	ch := schema + ".log"
	if len(ch) <= 63 {
		return ch
	}
	var h uint64 = 14695981039346656037 // FNV-1a
	for i := 0; i < len(schema); i++ {
		h ^= uint64(schema[i])
		h *= 1099511628211
	}
	return fmt.Sprintf("pgshared.%016x.log", h)
}

// Close closes the pool. Listen calls should be stopped (their context
// cancelled) first.
func (db *DB) Close() { db.pool.Close() }

// Ping checks that the server answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgshared: ping PostgreSQL at %s: %w", db.where, err)
	}
	return nil
}

// q substitutes the quoted schema for {s} in a statement.
func (db *DB) q(sql string) string { return strings.ReplaceAll(sql, "{s}", db.schemaQ) }

// lockKey is the text an advisory lock key is hashed from; it names the
// schema so that fleets (and tests) on other schemas do not contend.
func (db *DB) lockKey(what string) string {
	return "otelcol-release/pgshared/" + what + ":" + db.schema
}

// micros turns a duration into microseconds for `$n * interval '1 microsecond'`.
func micros(d time.Duration) int64 { return d.Microseconds() }

// schemaDDL creates every table and index; each statement is idempotent.
var schemaDDL = []string{
	`CREATE SCHEMA IF NOT EXISTS {s}`,
	// The log and its head. The head row carries the last seq ever assigned, so
	// pruning the log never makes seqs restart.
	`CREATE TABLE IF NOT EXISTS {s}.log (
		seq     bigint PRIMARY KEY,
		data    bytea NOT NULL,
		written timestamptz NOT NULL DEFAULT now()
	)`,
	`CREATE TABLE IF NOT EXISTS {s}.log_head (
		id  boolean PRIMARY KEY DEFAULT true CHECK (id),
		seq bigint NOT NULL
	)`,
	`INSERT INTO {s}.log_head (id, seq) VALUES (true, 0) ON CONFLICT (id) DO NOTHING`,
	`CREATE TABLE IF NOT EXISTS {s}.snapshot (
		id       boolean PRIMARY KEY DEFAULT true CHECK (id),
		last_seq bigint NOT NULL,
		data     bytea NOT NULL,
		saved    timestamptz NOT NULL DEFAULT now()
	)`,
	`CREATE TABLE IF NOT EXISTS {s}.leases (
		name    text PRIMARY KEY,
		holder  text NOT NULL,
		epoch   bigint NOT NULL,
		expires timestamptz NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS leases_holder ON {s}.leases (holder)`,
	`CREATE TABLE IF NOT EXISTS {s}.kv (
		namespace     text NOT NULL,
		key           bytea NOT NULL, -- storage.Client keys are any bytes (NUL included)
		value         bytea,
		claim_holder  text,
		claim_expires timestamptz,
		PRIMARY KEY (namespace, key)
	)`,
	// Per-replica high-water mark of stat seqs: like log_head, it survives
	// PruneStats, so a replica's seqs never go backwards.
	`CREATE TABLE IF NOT EXISTS {s}.stats_head (
		replica text PRIMARY KEY,
		seq     bigint NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS {s}.stats (
		replica text NOT NULL,
		seq     bigint NOT NULL,
		scope   text NOT NULL,
		data    bytea NOT NULL,
		written timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (replica, seq)
	)`,
	`CREATE INDEX IF NOT EXISTS stats_scope ON {s}.stats (scope, replica, seq)`,
	`CREATE INDEX IF NOT EXISTS stats_written ON {s}.stats (written)`,
	`CREATE TABLE IF NOT EXISTS {s}.replicas (
		replica text PRIMARY KEY,
		seen    timestamptz NOT NULL,
		info    bytea
	)`,
}

// migrate runs schemaDDL in one transaction under an advisory lock: CREATE
// ... IF NOT EXISTS alone still fails with a unique violation when two
// sessions create the same object at once.
func (db *DB) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, db.lockKey("migrate")); err != nil {
			return err
		}
		for _, stmt := range schemaDDL {
			if _, err := tx.Exec(ctx, db.q(stmt)); err != nil {
				return err
			}
		}
		return nil
	})
}

// isNoRows reports pgx.ErrNoRows.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
