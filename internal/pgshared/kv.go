package pgshared

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// KV is one namespace of the shared key-value area: a storage.Client whose
// keys can also be claimed, so that replicas agree on which of them carries an
// action out (claim, act, then Set the outcome, which clears the claim).
type KV struct {
	db *DB
	ns string
}

var _ storage.Client = (*KV)(nil)

// KV returns the key-value area of namespace. It holds no resources.
func (db *DB) KV(namespace string) *KV { return &KV{db: db, ns: namespace} }

// querier is what KV's operations run on: the pool, or a transaction in Batch.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Get returns the value of key; nil, nil when the key is missing or has no
// value (only a claim, or a nil Set).
func (kv *KV) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := kv.get(ctx, kv.db.pool, key)
	if err != nil {
		return nil, fmt.Errorf("pgshared: kv get: %w", err)
	}
	return v, nil
}

// Set stores value under key and clears any claim on it. A nil value is
// stored as no value.
func (kv *KV) Set(ctx context.Context, key string, value []byte) error {
	if err := kv.set(ctx, kv.db.pool, key, value); err != nil {
		return fmt.Errorf("pgshared: kv set: %w", err)
	}
	return nil
}

// Delete removes key, with its value and claim; a missing key is no error.
func (kv *KV) Delete(ctx context.Context, key string) error {
	if err := kv.del(ctx, kv.db.pool, key); err != nil {
		return fmt.Errorf("pgshared: kv delete: %w", err)
	}
	return nil
}

// Batch runs ops in order in one transaction; Get operations fill op.Value.
func (kv *KV) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if len(ops) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, kv.db.pool, func(tx pgx.Tx) error {
		for _, op := range ops {
			var err error
			switch op.Type {
			case storage.Get:
				op.Value, err = kv.get(ctx, tx, op.Key)
			case storage.Set:
				err = kv.set(ctx, tx, op.Key, op.Value)
			case storage.Delete:
				err = kv.del(ctx, tx, op.Key)
			default:
				err = fmt.Errorf("unknown operation type %d", op.Type)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgshared: kv batch: %w", err)
	}
	return nil
}

// Close does nothing: a KV holds no resources of its own.
func (kv *KV) Close(context.Context) error { return nil }

// Claim claims key for holder until now()+ttl, atomically: it returns false
// when the key has a value or an unexpired claim by another holder, and
// otherwise sets (or, for holder's own claim, extends) the claim and returns
// true. Of concurrent callers exactly one wins.
func (kv *KV) Claim(ctx context.Context, key, holder string, ttl time.Duration) (claimed bool, err error) {
	err = kv.db.pool.QueryRow(ctx, kv.db.q(`
		INSERT INTO {s}.kv AS k (namespace, key, claim_holder, claim_expires)
		VALUES ($1, $2, $3, now() + $4::bigint * interval '1 microsecond')
		ON CONFLICT (namespace, key) DO UPDATE SET
			claim_holder = EXCLUDED.claim_holder, claim_expires = EXCLUDED.claim_expires
		WHERE k.value IS NULL
			AND (k.claim_holder IS NULL OR k.claim_expires <= now() OR k.claim_holder = EXCLUDED.claim_holder)
		RETURNING true`), kv.ns, []byte(key), holder, micros(ttl)).Scan(&claimed)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pgshared: kv claim: %w", err)
	}
	return claimed, nil
}

// Unclaim drops holder's claim on key; a no-op when holder has none. (A
// claimed key never has a value, so the row goes.)
func (kv *KV) Unclaim(ctx context.Context, key, holder string) error {
	_, err := kv.db.pool.Exec(ctx, kv.db.q(`DELETE FROM {s}.kv WHERE namespace = $1 AND key = $2 AND claim_holder = $3 AND value IS NULL`),
		kv.ns, []byte(key), holder)
	if err != nil {
		return fmt.Errorf("pgshared: kv unclaim: %w", err)
	}
	return nil
}

func (kv *KV) get(ctx context.Context, q querier, key string) ([]byte, error) {
	var v []byte
	err := q.QueryRow(ctx, kv.db.q(`SELECT value FROM {s}.kv WHERE namespace = $1 AND key = $2`), kv.ns, []byte(key)).Scan(&v)
	if isNoRows(err) {
		return nil, nil
	}
	return v, err
}

func (kv *KV) set(ctx context.Context, q querier, key string, value []byte) error {
	_, err := q.Exec(ctx, kv.db.q(`INSERT INTO {s}.kv AS k (namespace, key, value) VALUES ($1, $2, $3)
		ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value, claim_holder = NULL, claim_expires = NULL`),
		kv.ns, []byte(key), value)
	return err
}

func (kv *KV) del(ctx context.Context, q querier, key string) error {
	_, err := q.Exec(ctx, kv.db.q(`DELETE FROM {s}.kv WHERE namespace = $1 AND key = $2`), kv.ns, []byte(key))
	return err
}
