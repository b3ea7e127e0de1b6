package pgshared

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// Entry is one record of the log.
type Entry struct {
	Seq  int64
	Data []byte
}

// ErrBehind means the entries after the requested seq were pruned: the reader
// fell further behind than SaveSnapshot's keepLog and must reload the snapshot.
var ErrBehind = errors.New("pgshared: log entries were pruned; reload the snapshot")

// pollInterval is how often Listen calls notify when no notification comes,
// a fallback for notifications lost while its connection was down.
const pollInterval = 500 * time.Millisecond

// Listen reconnect backoff bounds.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Append adds records to the log in one transaction and returns the seqs of
// the first and last. Seqs are consecutive and transactions commit in seq
// order across all replicas (an advisory lock is taken first and held to
// commit), so a reader of `seq > after` never skips an entry that commits
// later with a lower seq. Listeners are notified at commit. No records: a
// no-op returning 0, 0.
func (db *DB) Append(ctx context.Context, records [][]byte) (first, last int64, err error) {
	if len(records) == 0 {
		return 0, 0, nil
	}
	recs := make([][]byte, len(records))
	for i, r := range records {
		if r == nil {
			r = []byte{}
		}
		recs[i] = r
	}
	n := int64(len(recs))
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, db.lockKey("log"))
		b.Queue(db.q(`UPDATE {s}.log_head SET seq = seq + $1 RETURNING seq`), n)
		b.Queue(db.q(`INSERT INTO {s}.log (seq, data)
			SELECT h.seq - $1 + t.ord, t.data
			FROM {s}.log_head h, unnest($2::bytea[]) WITH ORDINALITY AS t(data, ord)`), n, recs)
		b.Queue(db.q(`SELECT pg_notify($1, seq::text) FROM {s}.log_head`), db.channel)
		br := tx.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		if err := br.QueryRow().Scan(&last); err != nil {
			br.Close()
			return err
		}
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		return br.Close()
	})
	if err != nil {
		return 0, 0, fmt.Errorf("pgshared: append: %w", err)
	}
	return last - n + 1, last, nil
}

// ReadAfter returns up to limit entries with seq > after, ascending (limit <=
// 0: all). It returns ErrBehind when the entry right after `after` was pruned,
// that is after is below the snapshot's last seq and the next entry is gone.
func (db *DB) ReadAfter(ctx context.Context, after int64, limit int) ([]Entry, error) {
	var lim any // NULL: no limit
	if limit > 0 {
		lim = limit
	}
	// One round trip, the one a replica makes at every poll: the entries
	// and the snapshot's last seq, from one statement snapshot. The left
	// join yields one row with a NULL seq when there are no entries.
	rows, err := db.pool.Query(ctx, db.q(`
		SELECT s.last_seq, l.seq, l.data
		FROM (SELECT coalesce((SELECT last_seq FROM {s}.snapshot), 0) AS last_seq) s
		LEFT JOIN LATERAL (SELECT seq, data FROM {s}.log WHERE seq > $1 ORDER BY seq LIMIT $2) l ON true
		ORDER BY l.seq`), after, lim)
	if err != nil {
		return nil, fmt.Errorf("pgshared: read log: %w", err)
	}
	var snap int64
	var entries []Entry
	for rows.Next() {
		var seq *int64
		var data []byte
		if err := rows.Scan(&snap, &seq, &data); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pgshared: read log: %w", err)
		}
		if seq != nil {
			entries = append(entries, Entry{Seq: *seq, Data: data})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgshared: read log: %w", err)
	}
	// Seqs have no gaps (a rolled-back Append rolls back its head too), so a
	// missing next entry was either never written or pruned under a snapshot.
	if (len(entries) == 0 || entries[0].Seq != after+1) && after < snap {
		return nil, ErrBehind
	}
	return entries, nil
}

// Head returns the last seq ever assigned (0 if none), pruned or not.
func (db *DB) Head(ctx context.Context) (int64, error) {
	var seq int64
	if err := db.pool.QueryRow(ctx, db.q(`SELECT seq FROM {s}.log_head`)).Scan(&seq); err != nil {
		return 0, fmt.Errorf("pgshared: log head: %w", err)
	}
	return seq, nil
}

// LoadSnapshot returns the newest snapshot and the last seq it covers; 0,
// nil, nil when there is none.
func (db *DB) LoadSnapshot(ctx context.Context) (lastSeq int64, data []byte, err error) {
	err = db.pool.QueryRow(ctx, db.q(`SELECT last_seq, data FROM {s}.snapshot`)).Scan(&lastSeq, &data)
	if isNoRows(err) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("pgshared: load snapshot: %w", err)
	}
	return lastSeq, data, nil
}

// SaveSnapshot stores data as the snapshot of the log up to lastSeq, unless
// the stored one is as new or newer, and then deletes log entries with seq <=
// lastSeq written more than keepLog ago: lagging replicas get keepLog to catch
// up from the log; one further behind gets ErrBehind and reloads the snapshot.
// Both happen in one transaction.
func (db *DB) SaveSnapshot(ctx context.Context, lastSeq int64, data []byte, keepLog time.Duration) error {
	if data == nil {
		data = []byte{}
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, db.q(`INSERT INTO {s}.snapshot AS s (id, last_seq, data, saved) VALUES (true, $1, $2, now())
			ON CONFLICT (id) DO UPDATE SET last_seq = EXCLUDED.last_seq, data = EXCLUDED.data, saved = EXCLUDED.saved
			WHERE s.last_seq < EXCLUDED.last_seq`), lastSeq, data); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, db.q(`DELETE FROM {s}.log WHERE seq <= $1 AND written <= now() - $2::bigint * interval '1 microsecond'`),
			lastSeq, micros(keepLog))
		return err
	})
	if err != nil {
		return fmt.Errorf("pgshared: save snapshot: %w", err)
	}
	return nil
}

// Listen calls notify when records may have been appended: on each
// notification of the log's channel, once after every (re)connect (to catch up
// on what was missed while disconnected) and at least every 500 ms as a
// fallback. It holds one connection of its own (outside the pool) and
// reconnects with backoff (100 ms to 2 s) when it is lost, logging a warning
// once per outage. notify is called from one goroutine, never concurrently;
// notifications that arrive while it runs are coalesced into one more call. It
// returns nil when ctx is done.
func (db *DB) Listen(ctx context.Context, notify func()) error {
	wake := make(chan struct{}, 1)
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.listenLoop(ctx, signal)
	}()
	defer func() { <-done }()

	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-tick.C:
		}
		if ctx.Err() != nil {
			return nil
		}
		notify()
	}
}

// listenName is the application_name of Listen's connection, so that an
// operator (or a test) can tell it apart.
func (db *DB) listenName() string {
	name := "otelcol-release listen " + db.schema
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// listenLoop keeps a LISTEN connection and calls signal on every notification
// and after every (re)connect, until ctx is done.
func (db *DB) listenLoop(ctx context.Context, signal func()) {
	backoff := minBackoff
	outage := false
	fail := func(msg string, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		if !outage {
			outage = true
			db.log.Warn("pgshared: "+msg+"; reconnecting", zap.String("server", db.where), zap.Error(err))
		}
		t := time.NewTimer(backoff)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
		return true
	}
	for ctx.Err() == nil {
		cfg := db.pool.Config().ConnConfig.Copy()
		cfg.RuntimeParams["application_name"] = db.listenName()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{db.channel}.Sanitize()); err != nil {
				_ = conn.Close(context.Background())
			}
		}
		if err != nil {
			if !fail("cannot listen for log notifications", err) {
				return
			}
			continue
		}
		if outage {
			db.log.Info("pgshared: listening for log notifications again", zap.String("server", db.where))
			outage = false
		}
		backoff = minBackoff
		signal()
		for {
			_, err = conn.WaitForNotification(ctx)
			if err != nil {
				break
			}
			signal()
		}
		_ = conn.Close(context.Background())
		if !fail("lost the connection listening for log notifications", err) {
			return
		}
	}
}
