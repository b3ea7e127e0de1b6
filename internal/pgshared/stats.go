package pgshared

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
)

// StatRow is one statistics blob a replica published for a scope (a release
// id). Seq is assigned by PublishStats and increases strictly per replica.
type StatRow struct {
	Replica string
	Seq     int64
	Scope   string
	Data    []byte
}

// StatCursor maps a replica to the last seq read from it.
type StatCursor map[string]int64

// PublishStats stores rows (their Replica and Seq fields are ignored) as
// replica's, in one statement. Seqs come from a per-replica head row that
// the statement locks and advances, so publications of one replica commit in
// seq order, even from several processes, and the head survives PruneStats:
// a reader's per-replica cursor never skips a row.
func (db *DB) PublishStats(ctx context.Context, replica string, rows []StatRow) error {
	if len(rows) == 0 {
		return nil
	}
	scopes := make([]string, len(rows))
	data := make([][]byte, len(rows))
	for i, r := range rows {
		scopes[i] = r.Scope
		data[i] = r.Data
		if data[i] == nil {
			data[i] = []byte{}
		}
	}
	_, err := db.pool.Exec(ctx, db.q(`
		WITH h AS (
			INSERT INTO {s}.stats_head AS h (replica, seq) VALUES ($1, $2)
			ON CONFLICT (replica) DO UPDATE SET seq = h.seq + EXCLUDED.seq
			RETURNING seq
		)
		INSERT INTO {s}.stats (replica, seq, scope, data)
		SELECT $1, h.seq - $2 + t.ord, t.scope, t.data
		FROM h, unnest($3::text[], $4::bytea[]) WITH ORDINALITY AS t(scope, data, ord)`),
		replica, int64(len(rows)), scopes, data)
	if err != nil {
		return fmt.Errorf("pgshared: publish stats: %w", err)
	}
	return nil
}

// ReadStats returns the rows of scopes published by replicas other than
// exclude with seq above that replica's cursor (all rows of a replica not in
// cur), ordered by replica then seq, and the cursor advanced past them (a new
// map; cur is not modified).
func (db *DB) ReadStats(ctx context.Context, scopes []string, exclude string, cur StatCursor) ([]StatRow, StatCursor, error) {
	next := maps.Clone(cur)
	if next == nil {
		next = StatCursor{}
	}
	if len(scopes) == 0 {
		return nil, next, nil
	}
	reps := make([]string, 0, len(cur))
	seqs := make([]int64, 0, len(cur))
	for r, s := range cur {
		reps = append(reps, r)
		seqs = append(seqs, s)
	}
	rows, err := db.pool.Query(ctx, db.q(`
		SELECT s.replica, s.seq, s.scope, s.data
		FROM {s}.stats s
		LEFT JOIN unnest($3::text[], $4::bigint[]) AS c(replica, seq) ON c.replica = s.replica
		WHERE s.scope = ANY($1) AND s.replica <> $2 AND s.seq > coalesce(c.seq, 0)
		ORDER BY s.replica, s.seq`), scopes, exclude, reps, seqs)
	if err != nil {
		return nil, nil, fmt.Errorf("pgshared: read stats: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[StatRow])
	if err != nil {
		return nil, nil, fmt.Errorf("pgshared: read stats: %w", err)
	}
	for _, r := range out {
		if r.Seq > next[r.Replica] {
			next[r.Replica] = r.Seq
		}
	}
	return out, next, nil
}

// StatsHead returns the last seq of every replica that ever published, to
// start reading "from now".
func (db *DB) StatsHead(ctx context.Context) (StatCursor, error) {
	rows, err := db.pool.Query(ctx, db.q(`SELECT replica, seq FROM {s}.stats_head`))
	if err != nil {
		return nil, fmt.Errorf("pgshared: stats head: %w", err)
	}
	cur := StatCursor{}
	var r string
	var s int64
	if _, err := pgx.ForEachRow(rows, []any{&r, &s}, func() error { cur[r] = s; return nil }); err != nil {
		return nil, fmt.Errorf("pgshared: stats head: %w", err)
	}
	return cur, nil
}

// PruneStats deletes the rows written more than olderThan ago and returns how
// many.
func (db *DB) PruneStats(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := db.pool.Exec(ctx, db.q(`DELETE FROM {s}.stats WHERE written <= now() - $1::bigint * interval '1 microsecond'`), micros(olderThan))
	if err != nil {
		return 0, fmt.Errorf("pgshared: prune stats: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Heartbeat records that replica is alive now (the database's clock), with
// info, an opaque blob for the operator page.
func (db *DB) Heartbeat(ctx context.Context, replica string, info []byte) error {
	_, err := db.pool.Exec(ctx, db.q(`INSERT INTO {s}.replicas (replica, seen, info) VALUES ($1, now(), $2)
		ON CONFLICT (replica) DO UPDATE SET seen = EXCLUDED.seen, info = EXCLUDED.info`), replica, info)
	if err != nil {
		return fmt.Errorf("pgshared: heartbeat: %w", err)
	}
	return nil
}

// Replicas returns the info of every replica whose last heartbeat is within
// seenWithin of now.
func (db *DB) Replicas(ctx context.Context, seenWithin time.Duration) (map[string][]byte, error) {
	rows, err := db.pool.Query(ctx, db.q(`SELECT replica, info FROM {s}.replicas WHERE seen >= now() - $1::bigint * interval '1 microsecond'`), micros(seenWithin))
	if err != nil {
		return nil, fmt.Errorf("pgshared: replicas: %w", err)
	}
	out := map[string][]byte{}
	var r string
	var info []byte
	if _, err := pgx.ForEachRow(rows, []any{&r, &info}, func() error {
		out[r] = info
		info = nil
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pgshared: replicas: %w", err)
	}
	return out, nil
}
