package rollbackexporter

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/exporter/rollbackexporter/internal/ledger"
	"github.com/otelcol-release/otelcol-release/internal/pgshared"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/storeroles"
)

// claimWatchInterval is how often a replica looks at a claim another
// replica holds, until the action is finished or the claim lapses.
const claimWatchInterval = 5 * time.Second

// claimMargin is what a claim lasts beyond the longest a live holder goes
// without renewing it (an attempt's timeout and a wait between retries):
// time for the holder to record the outcome. (The database's clock alone
// judges expiry, so replicas' clocks do not matter.)
const claimMargin = 10 * time.Second

// fleetKV is the ledger's storage in a fleet's shared store. The database
// is looked up on each call, so that the ledger follows the store's
// reconnections (and fails, rather than blocks, while it is away).
type fleetKV struct {
	fleet storeroles.Fleet
	ns    string
}

var (
	_ storage.Client = fleetKV{}
	_ ledger.Claims  = fleetKV{}
)

func (k fleetKV) kv() (*pgshared.KV, error) {
	db, err := k.fleet.DB()
	if err != nil {
		return nil, err
	}
	return db.KV(k.ns), nil
}

func (k fleetKV) Get(ctx context.Context, key string) ([]byte, error) {
	kv, err := k.kv()
	if err != nil {
		return nil, err
	}
	return kv.Get(ctx, key)
}

func (k fleetKV) Set(ctx context.Context, key string, value []byte) error {
	kv, err := k.kv()
	if err != nil {
		return err
	}
	return kv.Set(ctx, key, value)
}

func (k fleetKV) Delete(ctx context.Context, key string) error {
	kv, err := k.kv()
	if err != nil {
		return err
	}
	return kv.Delete(ctx, key)
}

func (k fleetKV) Batch(ctx context.Context, ops ...*storage.Operation) error {
	kv, err := k.kv()
	if err != nil {
		return err
	}
	return kv.Batch(ctx, ops...)
}

func (fleetKV) Close(context.Context) error { return nil }

func (k fleetKV) Claim(ctx context.Context, key, holder string, ttl time.Duration) (bool, error) {
	kv, err := k.kv()
	if err != nil {
		return false, err
	}
	return kv.Claim(ctx, key, holder, ttl)
}

func (k fleetKV) Unclaim(ctx context.Context, key, holder string) error {
	kv, err := k.kv()
	if err != nil {
		return err
	}
	return kv.Unclaim(ctx, key, holder)
}

// newSharedLedger is the exporter's ledger in the fleet's store, under the
// exporter's component ID so that the same exporter on every replica
// shares it.
func newSharedLedger(f storeroles.Fleet, id component.ID, ttl time.Duration) *ledger.Ledger {
	kv := fleetKV{fleet: f, ns: "ledger/" + id.String()}
	return ledger.NewShared(kv, kv, f.Replica(), ttl)
}

// claimTTL is how long a replica's claim on an action lasts unrenewed. The
// holder renews it after each failed attempt, so the longest it goes
// without is a wait between retries (randomized up) and one attempt; the
// margin covers recording the outcome. A replica that dies holding a claim
// delays the others by this much at most.
func (e *rollbackExporter) claimTTL() time.Duration {
	ttl := e.cfg.Timeout + claimMargin
	if rc := e.cfg.RetryConfig; rc.Enabled {
		ttl += time.Duration(float64(rc.MaxInterval) * (1 + rc.RandomizationFactor))
	}
	return ttl
}

// watchClaim follows a (decision, target) that another replica of the
// fleet has claimed: once the action is finished it stops; if the claim
// lapses (the replica died mid-action), it claims and carries the action
// out itself. One watcher per pair.
func (e *rollbackExporter) watchClaim(d *release.Decision, t boundTarget, action release.Action, note string, review *release.Review) {
	key := d.DecisionID + "\x00" + t.cfg.Name
	e.watchMu.Lock()
	if e.watching[key] {
		e.watchMu.Unlock()
		return
	}
	e.watching[key] = true
	e.watchMu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		unwatch := sync.OnceFunc(func() {
			e.watchMu.Lock()
			delete(e.watching, key)
			e.watchMu.Unlock()
		})
		defer unwatch()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for {
			select {
			case <-e.stopping:
				return
			case <-time.After(claimWatchInterval):
			}
			done, claimed, err := e.ledger.Claim(ctx, d.DecisionID, t.cfg.Name)
			switch {
			case err != nil:
				continue // the store is away; look again
			case done != nil:
				return
			case !claimed:
				continue // still carried out elsewhere
			}
			e.logger.Info("Taking over an action whose claim lapsed in the fleet's shared ledger (its replica stopped)",
				zap.String("decision_id", d.DecisionID), zap.String("target", t.cfg.Name))
			unwatch() // acting may need to watch again
			go func() {
				select {
				case <-e.stopping:
					cancel()
				case <-ctx.Done():
				}
			}()
			if _, err := e.act(ctx, d, t, action, note, review); err != nil {
				e.logger.Error("Carrying out a taken-over action failed", zap.String("decision_id", d.DecisionID), zap.String("target", t.cfg.Name), zap.Error(err))
			}
			return
		}
	}()
}
