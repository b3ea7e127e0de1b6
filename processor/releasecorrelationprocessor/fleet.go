package releasecorrelationprocessor

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/internal/pgshared"
	"github.com/otelcol-release/otelcol-release/internal/storeroles"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/detect"
)

// fleetExchange is the detector's exchange with the other replicas of a
// gateway fleet, through the release store's shared PostgreSQL: once per
// interval it publishes this replica's statistics (one row per release),
// takes or renews the lease of every release under evaluation
// ("eval:<release id>", held by one replica at a time, taken over when its
// holder stops renewing), and reads the rows the other replicas published
// since it last looked: three round trips per interval whatever the
// traffic (and none while nothing is published or under evaluation, after
// one at the first interval to find where to read from).
type fleetExchange struct {
	fleet  storeroles.Fleet
	logger *zap.Logger

	// Owned by the detector's tick goroutine.
	cursor  pgshared.StatCursor
	held    map[string]bool
	failing bool
	ticks   int
}

// pruneEvery is how many intervals pass between prunings of old statistics.
const pruneEvery = 300

// statsRetention is how long published statistics are kept: more than any
// replica takes to read them.
const statsRetention = 10 * time.Minute

func leaseName(releaseID string) string { return "eval:" + releaseID }

// Exchange implements detect.Fleet.
func (x *fleetExchange) Exchange(ctx context.Context, out []detect.FleetSlice, evaluating []string) ([]detect.FleetSlice, map[string]bool, error) {
	in, held, err := x.exchange(ctx, out, evaluating)
	switch {
	case err != nil && !x.failing:
		x.failing = true
		x.logger.Warn("Detection holds: this replica cannot reach the fleet's shared release store, so it decides no release until it can (stamping goes on from the last known state)",
			zap.String("replica", x.fleet.Replica()), zap.Error(err))
	case err == nil && x.failing:
		x.failing = false
		x.logger.Info("Detection resumes: the fleet's shared release store is reachable again", zap.String("replica", x.fleet.Replica()))
	}
	if err != nil {
		x.held = nil
		return nil, nil, err
	}
	for id := range held {
		if held[id] && !x.held[id] {
			x.logger.Info("This replica now decides the release (it holds its lease)", zap.String("replica", x.fleet.Replica()), zap.String("deployment_id", id))
		}
	}
	x.held = held
	return in, held, nil
}

func (x *fleetExchange) exchange(ctx context.Context, out []detect.FleetSlice, evaluating []string) ([]detect.FleetSlice, map[string]bool, error) {
	db, err := x.fleet.DB()
	if err != nil {
		return nil, nil, err
	}
	self := x.fleet.Replica()
	if x.cursor == nil {
		// Start reading from now: what was published before this replica
		// joined is past intervals of evaluations it is about to shadow.
		if x.cursor, err = db.StatsHead(ctx); err != nil {
			return nil, nil, fmt.Errorf("reading the statistics head: %w", err)
		}
	}
	if len(out) > 0 {
		rows := make([]pgshared.StatRow, len(out))
		for i := range out {
			data, err := json.Marshal(&out[i])
			if err != nil {
				return nil, nil, err
			}
			rows[i] = pgshared.StatRow{Scope: out[i].Release, Data: data}
		}
		if err := db.PublishStats(ctx, self, rows); err != nil {
			return nil, nil, fmt.Errorf("publishing statistics: %w", err)
		}
	}
	held := make(map[string]bool, len(evaluating))
	if len(evaluating) == 0 {
		return nil, held, nil
	}
	names := make([]string, len(evaluating))
	for i, id := range evaluating {
		names[i] = leaseName(id)
	}
	leases, err := db.Acquire(ctx, self, names, x.fleet.LeaseDuration())
	if err != nil {
		return nil, nil, fmt.Errorf("taking leases: %w", err)
	}
	for _, id := range evaluating {
		held[id] = leases[leaseName(id)].Holder == self
	}
	// Read every evaluation's rows, held or not, so that the cursor stays
	// current: a replica taking a release over adds the last interval of
	// the others, not a backlog.
	rows, cur, err := db.ReadStats(ctx, evaluating, self, x.cursor)
	if err != nil {
		return nil, nil, fmt.Errorf("reading statistics: %w", err)
	}
	x.cursor = cur
	var in []detect.FleetSlice
	for _, row := range rows {
		if !held[row.Scope] {
			continue
		}
		var fs detect.FleetSlice
		if err := json.Unmarshal(row.Data, &fs); err != nil {
			x.logger.Warn("Ignoring undecodable statistics of a fleet replica", zap.String("from", row.Replica), zap.Error(err))
			continue
		}
		fs.Replica = row.Replica
		in = append(in, fs)
	}
	if x.ticks++; x.ticks%pruneEvery == 0 {
		if _, err := db.PruneStats(ctx, statsRetention); err != nil {
			x.logger.Debug("Pruning old fleet statistics failed", zap.Error(err))
		}
	}
	return in, held, nil
}
