package pgshared

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Lease is who holds a name until when. Epoch increases whenever the holder
// changes, so work done under an old epoch can be told from work done under
// the current one. Expires is on the database's clock.
type Lease struct {
	Name, Holder string
	Epoch        int64
	Expires      time.Time
}

// Acquire takes, for holder, every name in names that is free, expired or
// already held by holder (extending it to now()+ttl), in one statement, and
// returns the current lease of every name: held by holder or by someone else.
// Time is the database's clock.
func (db *DB) Acquire(ctx context.Context, holder string, names []string, ttl time.Duration) (map[string]Lease, error) {
	// Sorted and unique: a row may be upserted once per statement, and a common
	// lock order keeps two concurrent Acquires from deadlocking.
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	out := make(map[string]Lease, len(names))
	if len(names) == 0 {
		return out, nil
	}
	var rows pgx.Rows
	var err error
	for attempt := 0; ; attempt++ {
		clear(out) // rows of an aborted attempt are void
		rows, err = db.pool.Query(ctx, db.q(`
			INSERT INTO {s}.leases AS l (name, holder, epoch, expires)
			SELECT n, $1, 1, now() + $2::bigint * interval '1 microsecond' FROM unnest($3::text[]) AS n
			ON CONFLICT (name) DO UPDATE SET
				holder  = EXCLUDED.holder,
				epoch   = CASE WHEN l.holder = EXCLUDED.holder THEN l.epoch ELSE l.epoch + 1 END,
				expires = EXCLUDED.expires
			WHERE l.holder = EXCLUDED.holder OR l.expires <= now()
			RETURNING name, holder, epoch, expires`), holder, micros(ttl), names)
		if err == nil {
			err = collectLeases(rows, out)
		}
		var pgErr *pgconn.PgError
		if err != nil && errors.As(err, &pgErr) && pgErr.Code == "40P01" && attempt < 3 { // deadlock_detected
			continue
		}
		break
	}
	if err != nil {
		return nil, fmt.Errorf("pgshared: acquire leases: %w", err)
	}
	// The names not taken are held by others; read them in a new statement (a
	// row inserted concurrently is not in the snapshot of the one above).
	var others []string
	for _, n := range names {
		if _, ok := out[n]; !ok {
			others = append(others, n)
		}
	}
	if len(others) > 0 {
		rows, err := db.pool.Query(ctx, db.q(`SELECT name, holder, epoch, expires FROM {s}.leases WHERE name = ANY($1)`), others)
		if err == nil {
			err = collectLeases(rows, out)
		}
		if err != nil {
			return nil, fmt.Errorf("pgshared: acquire leases: %w", err)
		}
	}
	return out, nil
}

func collectLeases(rows pgx.Rows, out map[string]Lease) error {
	var l Lease
	_, err := pgx.ForEachRow(rows, []any{&l.Name, &l.Holder, &l.Epoch, &l.Expires}, func() error {
		out[l.Name] = l
		return nil
	})
	return err
}

// Renew extends every unexpired lease of holder to now()+ttl and returns their
// names. A lease that expired is not renewed: someone else may hold it now.
func (db *DB) Renew(ctx context.Context, holder string, ttl time.Duration) (held []string, err error) {
	rows, err := db.pool.Query(ctx, db.q(`UPDATE {s}.leases SET expires = now() + $2::bigint * interval '1 microsecond'
		WHERE holder = $1 AND expires > now() RETURNING name`), holder, micros(ttl))
	if err == nil {
		held, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return nil, fmt.Errorf("pgshared: renew leases: %w", err)
	}
	slices.Sort(held)
	return held, nil
}

// ReleaseLeases gives up holder's leases on names (all of holder's when names
// is nil) by expiring them now, so another holder can take them at once.
func (db *DB) ReleaseLeases(ctx context.Context, holder string, names []string) error {
	var err error
	if names == nil {
		_, err = db.pool.Exec(ctx, db.q(`UPDATE {s}.leases SET expires = now() WHERE holder = $1 AND expires > now()`), holder)
	} else if len(names) > 0 {
		_, err = db.pool.Exec(ctx, db.q(`UPDATE {s}.leases SET expires = now() WHERE holder = $1 AND expires > now() AND name = ANY($2)`), holder, names)
	}
	if err != nil {
		return fmt.Errorf("pgshared: release leases: %w", err)
	}
	return nil
}
