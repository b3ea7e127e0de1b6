package rollbackexporter

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/exporter/rollbackexporter/internal/ledger"
	"github.com/otelcol-release/otelcol-release/extension/releasestoreextension"
	"github.com/otelcol-release/otelcol-release/internal/pgshared"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/testhost"
)

// startFleet runs n replicas of a fleet on one PostgreSQL schema: each its
// own release store (shared mode) and host.
func startFleet(t *testing.T, n int) (envs []*env, dsn, schema string) {
	dsn, schema = testhost.PostgresSchema(t, "rollback_test")
	for i := range n {
		envs = append(envs, startEnvWith(t, "", func(c *releasestoreextension.Config) {
			sc := c.Shared.GetOrInsertDefault()
			sc.PostgreSQL.DSN = configopaque.String(dsn)
			sc.PostgreSQL.Schema = schema
			sc.Replica = fmt.Sprintf("gw-%d", i)
		}))
	}
	return envs, dsn, schema
}

// Every replica's receiver emits the decision, so every replica's exporter
// is handed it: the shared ledger lets one of them act.
func TestFleetCarriesADecisionOutOnce(t *testing.T) {
	envs, _, _ := startFleet(t, 3)
	hook := newHookServer(t)
	d := decision("dec-fleet-1", "rel-fleet-1", "prod", release.ActionRollback)
	var wg sync.WaitGroup
	for _, e := range envs {
		exp := e.exporter(t, func(c *Config) { c.Targets = []TargetConfig{webhookTarget("hook", hook.URL)} })
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(t, d)))
		}()
	}
	wg.Wait()
	// The outcome is shared too: every replica's store is told, once.
	for i, e := range envs {
		o := e.next(t)
		require.Equal(t, release.OutcomeDone, o.Status, "replica %d", i)
		require.Equal(t, "dec-fleet-1", o.DecisionID)
	}
	require.Equal(t, 1, hook.count(), "the webhook was called by more than one replica")
	// A re-delivery to any replica finds it done.
	exp := envs[2].exporter(t, func(c *Config) { c.Targets = []TargetConfig{webhookTarget("hook", hook.URL)} })
	require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(t, d)))
	require.Equal(t, 1, hook.count())
	for i, e := range envs {
		select {
		case o := <-e.outcomes:
			t.Fatalf("replica %d recorded a second outcome: %+v", i, o)
		default:
		}
	}
}

// A replica that dies holding a claim (kill -9: nothing released) keeps the
// others from acting only until the claim lapses; then one of them, which
// has been watching, acts.
func TestFleetTakesOverTheClaimOfADeadReplica(t *testing.T) {
	envs, dsn, schema := startFleet(t, 2)
	hook := newHookServer(t)
	d := decision("dec-fleet-2", "rel-fleet-2", "prod", release.ActionRollback)

	ctx := context.Background()
	db, err := pgshared.Open(ctx, pgshared.Options{DSN: dsn, Schema: schema, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer db.Close()
	ok, err := db.KV("ledger/"+Type.String()).Claim(ctx, ledger.ClaimKey(d.DecisionID, "hook"), "gw-died", 2*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	claimed := time.Now()

	for _, e := range envs {
		exp := e.exporter(t, func(c *Config) { c.Targets = []TargetConfig{webhookTarget("hook", hook.URL)} })
		require.NoError(t, exp.ConsumeLogs(ctx, logsOf(t, d)))
	}
	require.Equal(t, 0, hook.count(), "a replica acted while another held the claim")
	for _, e := range envs {
		o := e.next(t) // waits up to 10 s: the claim lapses after 2, watchers look every 5
		require.Equal(t, release.OutcomeDone, o.Status)
	}
	require.GreaterOrEqual(t, time.Since(claimed), 2*time.Second)
	require.Equal(t, 1, hook.count(), "after the takeover the webhook was called %d times", hook.count())
}
