package rollbackexporter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/exporter/rollbackexporter/internal/ledger"
	"github.com/otelcol-release/otelcol-release/exporter/rollbackexporter/internal/metadata"
	"github.com/otelcol-release/otelcol-release/exporter/rollbackexporter/internal/target"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/releaselog"
	"github.com/otelcol-release/otelcol-release/internal/storeroles"
)

// boundTarget is a configured target, ready to act.
type boundTarget struct {
	cfg     TargetConfig
	target  target.Target
	actions []release.Action
	// clients are built at Start from the target's client settings (nil
	// for targets without them, such as argo_rollouts and flagd).
	clients *target.Clients
}

// releaseStore is what the exporter asks of the release store: to record
// the decisions it receives and what became of them, the release a
// decision is about, and the reviews of decisions waiting for approval.
type releaseStore interface {
	storeroles.DecisionPublisher
	storeroles.OutcomeRecorder
	storeroles.ReleaseReader
	storeroles.ChangeSubscriber
}

type rollbackExporter struct {
	cfg     *Config
	set     exporter.Settings
	logger  *zap.Logger
	targets []boundTarget
	store   releaseStore
	ledger  *ledger.Ledger
	unsub   func()
	now     func() time.Time
	client  *http.Client
	dryHTTP *http.Client

	telemetry *metadata.TelemetryBuilder

	// approvals run in the background; shutdown waits for them.
	wg       sync.WaitGroup
	stopping chan struct{}
	stopOnce sync.Once

	// In a fleet, the (decision, target) pairs another replica carries
	// out that this one watches (see watchClaim).
	watchMu  sync.Mutex
	watching map[string]bool
}

func newExporter(cfg *Config, set exporter.Settings) (*rollbackExporter, error) {
	e := &rollbackExporter{cfg: cfg, set: set, logger: set.Logger, now: func() time.Time { return time.Now().UTC() }, stopping: make(chan struct{})}
	for _, tc := range cfg.Targets {
		f, ok := target.Lookup(tc.Type)
		if !ok {
			return nil, fmt.Errorf("target %q: unknown type %q", tc.Name, tc.Type)
		}
		t, err := f.New(tc.Settings)
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", tc.Name, err)
		}
		actions := tc.Match.Actions
		if len(actions) == 0 {
			actions = f.Actions
		}
		e.targets = append(e.targets, boundTarget{cfg: tc, target: t, actions: actions})
	}
	// Targets without client settings (argo_rollouts builds its own client
	// from the kubeconfig; flagd writes a file) act through these.
	e.client = &http.Client{Transport: &target.RecordingTransport{}, Timeout: cfg.Timeout}
	e.dryHTTP = &http.Client{Transport: &target.RecordingTransport{DryRun: true}, Timeout: cfg.Timeout}
	var err error
	if e.telemetry, err = metadata.NewTelemetryBuilder(set.TelemetrySettings); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *rollbackExporter) start(ctx context.Context, host component.Host) error {
	// Each HTTP target's client, built as any collector component builds
	// one, so that tls, proxy_url, headers and auth extensions apply.
	for i := range e.targets {
		t := &e.targets[i]
		cs, ok := t.cfg.Settings.(target.ClientSettings)
		if !ok || t.clients != nil {
			continue
		}
		clients, err := target.NewClients(ctx, cs.HTTPClientConfig(), host.GetExtensions(), e.set.TelemetrySettings, e.cfg.Timeout)
		if err != nil {
			return fmt.Errorf("rollback: targets[%d] (%s): %s: %w", i, t.cfg.Name, t.cfg.Type, err)
		}
		t.clients = &clients
	}
	st, err := storeroles.Find[releaseStore](host, e.cfg.Store)
	if err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	e.store = st
	var client storage.Client
	storageID := e.cfg.Storage
	if storageID == nil && e.cfg.QueueConfig.HasValue() {
		storageID = e.cfg.QueueConfig.Get().StorageID
	}
	if storageID != nil {
		ext, ok := host.GetExtensions()[*storageID]
		if !ok {
			return fmt.Errorf("rollback: storage: extension %q is not configured", storageID)
		}
		se, ok := ext.(storage.Extension)
		if !ok {
			return fmt.Errorf("rollback: storage: extension %q is not a storage extension", storageID)
		}
		if client, err = se.GetClient(ctx, component.KindExporter, e.set.ID, "ledger"); err != nil {
			return fmt.Errorf("rollback: opening the ledger: %w", err)
		}
	}
	if fleet := storeroles.FleetOf(st); fleet != nil {
		// One ledger for the fleet, so that a decision every replica sees
		// is carried out by one of them.
		if storageID != nil {
			e.logger.Info("Rollback exporter keeps its ledger in the fleet's shared release store; storage is not used for it", zap.String("storage", storageID.String()))
		} else {
			e.logger.Info("Rollback exporter keeps its ledger in the fleet's shared release store")
		}
		e.ledger = newSharedLedger(fleet, e.set.ID, e.claimTTL())
		e.watching = map[string]bool{}
	} else {
		if client == nil {
			e.logger.Warn("Rollback exporter has no storage: its ledger is in memory, so after a restart a re-delivered decision could be carried out again. Set `storage:` or `sending_queue::storage:`.")
		}
		e.ledger = ledger.New(client)
	}
	e.unsub = st.Subscribe(storeroles.Subscriber{OnReview: e.onReview})
	if e.cfg.DryRun {
		e.logger.Info("Rollback exporter in dry run: decisions are recorded with exactly what would be sent; nothing is.")
	}
	return nil
}

func (e *rollbackExporter) shutdown(ctx context.Context) error {
	var err error
	e.stopOnce.Do(func() {
		if e.unsub != nil {
			e.unsub()
		}
		close(e.stopping)
		e.wg.Wait()
		if e.ledger != nil {
			err = e.ledger.Close(ctx)
		}
	})
	return err
}

// push handles a batch of log records: release.decision records are
// carried out, everything else is counted and ignored.
func (e *rollbackExporter) push(ctx context.Context, ld plog.Logs) error {
	var errs []error
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				d, err := releaselog.DecodeDecision(lrs.At(k))
				if err != nil {
					reason := "not_a_decision"
					if !errors.Is(err, releaselog.ErrNotDecision) {
						reason = "malformed_decision"
						e.logger.Warn("Ignoring a malformed release.decision record", zap.Error(err))
					}
					e.telemetry.RollbackRecordsIgnored.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
					continue
				}
				// A gateway acts on decisions taken by agents: record them in
				// its own store, so that its API lists them and approvals and
				// outcomes have their decision. Known ones are left alone.
				if _, err := e.store.PublishDecision(ctx, d); err != nil {
					errs = append(errs, err)
					continue
				}
				if err := e.handle(ctx, d, nil); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (e *rollbackExporter) matching(d *release.Decision, action release.Action) []boundTarget {
	env := d.Release[release.AttrDeploymentEnvironment]
	svc := d.Release[release.AttrServiceName]
	qualified := release.QualifiedServiceNameOf(d.Release)
	var out []boundTarget
	for _, t := range e.targets {
		if !release.MatchAny(t.cfg.Match.Environments, env) || !release.MatchAny(t.cfg.Match.Services, qualified, svc) {
			continue
		}
		for _, a := range t.actions {
			if a == action {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// handle carries a decision out on every matching target. review is the
// person's approval when the decision waited for one.
func (e *rollbackExporter) handle(ctx context.Context, d *release.Decision, review *release.Review) error {
	if d.Action == release.ActionNone {
		return nil
	}
	env := d.Release[release.AttrDeploymentEnvironment]
	action := d.Action
	note := ""
	if automated(action) && review == nil && release.MatchAny(nonEmpty(e.cfg.RequireApproval), env) {
		return e.awaitApproval(ctx, d)
	}
	if automated(action) && e.cfg.MaxActions.Count > 0 {
		since := e.now().Add(-e.cfg.MaxActions.Per)
		n, err := e.ledger.BrakeCount(ctx, env, since)
		if err != nil {
			return err
		}
		if n >= e.cfg.MaxActions.Count {
			note = fmt.Sprintf("brake: %d automated actions in %s within %s already (max_actions %d), so this %s only notifies",
				n, env, e.cfg.MaxActions.Per, e.cfg.MaxActions.Count, action)
			e.telemetry.RollbackBrakeEngaged.Add(ctx, 1, metric.WithAttributes(attribute.String("environment", env)))
			e.logger.Warn("Brake engaged", zap.String("decision_id", d.DecisionID), zap.String("environment", env), zap.String("action", string(action)))
			// Say so on the targets that would have acted.
			for _, t := range e.matching(d, action) {
				if err := e.record(ctx, d, t, action, release.OutcomeSkipped, note, nil, 0, ""); err != nil {
					return err
				}
			}
			action = release.ActionNotify
		}
	}
	var errs []error
	acted := false
	for _, t := range e.matching(d, action) {
		did, err := e.carryOut(ctx, d, t, action, note, review)
		if err != nil {
			errs = append(errs, err)
		}
		acted = acted || did
	}
	if acted && automated(action) && e.cfg.MaxActions.Count > 0 {
		now := e.now()
		if err := e.ledger.CountAction(ctx, env, d.DecisionID, now, now.Add(-e.cfg.MaxActions.Per)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func nonEmpty(patterns []string) []string {
	if len(patterns) == 0 {
		return []string{"\x00never"}
	}
	return patterns
}

// awaitApproval records the decision as pending on each target that
// would act; approval carries it out through the same path.
func (e *rollbackExporter) awaitApproval(ctx context.Context, d *release.Decision) error {
	for _, t := range e.matching(d, d.Action) {
		done, claimed, err := e.ledger.Claim(ctx, d.DecisionID, "pending:"+t.cfg.Name)
		if err != nil {
			return err
		}
		if done != nil || !claimed {
			continue
		}
		note := fmt.Sprintf("waiting for approval: %s in %s requires a person to approve (POST /api/v1/decisions/%s/approve)",
			d.Action, d.Release[release.AttrDeploymentEnvironment], d.DecisionID)
		if err := e.record(ctx, d, t, d.Action, release.OutcomePending, note, nil, 0, ""); err != nil {
			e.ledger.Release(d.DecisionID, "pending:"+t.cfg.Name)
			return err
		}
		if err := e.ledger.Finish(ctx, d.DecisionID, "pending:"+t.cfg.Name, "", "", ledger.Entry{Status: string(release.OutcomePending), At: e.now()}); err != nil {
			return err
		}
	}
	return nil
}

// onReview carries out an approved decision, or records the dismissal.
func (e *rollbackExporter) onReview(d *release.Decision, r release.Review) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-e.stopping:
				cancel()
			case <-ctx.Done():
			}
		}()
		if !r.Approved {
			for _, t := range e.matching(d, d.Action) {
				_ = e.record(ctx, d, t, d.Action, release.OutcomeDismissed, "dismissed by "+actorOf(r), nil, 0, r.Actor)
				_ = e.ledger.Finish(ctx, d.DecisionID, t.cfg.Name, d.ReleaseID(), "", ledger.Entry{Status: string(release.OutcomeDismissed), At: e.now()})
			}
			return
		}
		if err := e.handle(ctx, d, &r); err != nil {
			e.logger.Error("Carrying out an approved decision failed", zap.String("decision_id", d.DecisionID), zap.Error(err))
		}
	}()
}

func actorOf(r release.Review) string {
	if r.Actor == "" {
		return "an operator"
	}
	return r.Actor
}

// carryOut acts on one target at most once, retrying transient failures
// with backoff. It returns whether the target acted (or would have, in dry
// run). An error means the decision must be delivered again (the collector
// is shutting down, or the outcome could not be recorded).
func (e *rollbackExporter) carryOut(ctx context.Context, d *release.Decision, t boundTarget, action release.Action, note string, review *release.Review) (bool, error) {
	done, claimed, err := e.ledger.Claim(ctx, d.DecisionID, t.cfg.Name)
	if err != nil {
		return false, err
	}
	if done == nil && !claimed && e.ledger.Shared() {
		// Another replica of the fleet carries it out; watch that it
		// finishes, and take over if its claim lapses.
		e.watchClaim(d, t, action, note, review)
	}
	if done != nil || !claimed {
		return false, nil
	}
	return e.act(ctx, d, t, action, note, review)
}

// act carries out a claimed decision on one target (see carryOut).
func (e *rollbackExporter) act(ctx context.Context, d *release.Decision, t boundTarget, action release.Action, note string, review *release.Review) (bool, error) {
	releaseID := d.ReleaseID()
	if prev, taken, err := e.ledger.TakenBy(ctx, releaseID, string(action), t.cfg.Name); err != nil {
		e.ledger.Release(d.DecisionID, t.cfg.Name)
		return false, err
	} else if taken && prev != d.DecisionID {
		msg := fmt.Sprintf("already %s on %s for release %s by decision %s", action, t.cfg.Name, releaseID, prev)
		return false, e.finish(ctx, d, t, action, release.OutcomeSkipped, msg, nil, 0, "")
	}

	dry := e.cfg.DryRun
	if t.cfg.DryRun != nil {
		dry = *t.cfg.DryRun
	}
	env := target.Env{HTTP: e.client, Now: e.now, OperatorURL: e.cfg.OperatorURL, TraceURL: e.traceURL, DryRun: dry}
	timeout := e.cfg.Timeout
	switch {
	case t.clients != nil && dry:
		env.HTTP, timeout = t.clients.Dry, t.clients.Timeout
	case t.clients != nil:
		env.HTTP, timeout = t.clients.Live, t.clients.Timeout
	case dry:
		env.HTTP = e.dryHTTP
	}
	var rel *release.Release
	if r, ok := e.store.Release(releaseID); ok {
		rel = r
	}
	a := target.Action{Decision: withAction(d, action), Release: rel, Target: t.cfg.Name, IdempotencyKey: idempotencyKey(d.DecisionID, t.cfg.Name)}
	actor := ""
	if review != nil {
		actor = review.Actor
	}

	bo := e.backoff()
	attempts := 0
	for {
		attempts++
		rec := &target.Recorder{}
		actx, cancel := context.WithTimeout(target.WithRecorder(ctx, rec), timeout)
		summary, err := t.target.Act(actx, env, a)
		cancel()
		switch {
		case err == nil:
			status := release.OutcomeDone
			if dry {
				status = release.OutcomeDryRun
				summary = "dry run: " + summary
			}
			return true, e.finish(ctx, d, t, action, status, join(note, summary), rec.Requests, attempts, actor)
		case errors.Is(err, target.ErrPermanent):
			return false, e.finish(ctx, d, t, action, release.OutcomeFailed, join(note, err.Error()), rec.Requests, attempts, actor)
		}
		wait := bo.NextBackOff()
		if wait == backoff.Stop {
			msg := fmt.Sprintf("gave up after %d attempts: %v", attempts, err)
			return false, e.finish(ctx, d, t, action, release.OutcomeFailed, join(note, msg), rec.Requests, attempts, actor)
		}
		e.logger.Info("Target failed transiently; retrying", zap.String("target", t.cfg.Name), zap.String("decision_id", d.DecisionID),
			zap.Int("attempt", attempts), zap.Duration("wait", wait), zap.Error(err))
		if held, herr := e.ledger.Extend(ctx, d.DecisionID, t.cfg.Name); herr != nil || !held {
			// In a fleet, the claim lapsed to another replica (or cannot be
			// renewed): stop here rather than risk acting twice.
			e.ledger.Release(d.DecisionID, t.cfg.Name)
			e.logger.Warn("Stopped retrying: this replica no longer holds the decision's claim in the fleet's shared ledger",
				zap.String("target", t.cfg.Name), zap.String("decision_id", d.DecisionID), zap.NamedError("renew_error", herr))
			if herr != nil {
				// The store is unreachable: resume once it is back.
				e.watchClaim(d, t, action, note, review)
			}
			return false, nil
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			e.ledger.Release(d.DecisionID, t.cfg.Name)
			return false, fmt.Errorf("target %s: stopped before the action succeeded: %w", t.cfg.Name, ctx.Err())
		case <-e.stopping:
			e.ledger.Release(d.DecisionID, t.cfg.Name)
			return false, fmt.Errorf("target %s: shutting down before the action succeeded: %w", t.cfg.Name, err)
		}
	}
}

// retrySchedule says how long to wait before the next attempt, or
// backoff.Stop; it follows retry_on_failure (one attempt when disabled).
type retrySchedule interface{ NextBackOff() time.Duration }

type noRetry struct{}

func (noRetry) NextBackOff() time.Duration { return backoff.Stop }

type boundedBackoff struct {
	b     *backoff.ExponentialBackOff
	start time.Time
	max   time.Duration
	now   func() time.Time
}

func (b *boundedBackoff) NextBackOff() time.Duration {
	if b.max > 0 && b.now().Sub(b.start) >= b.max {
		return backoff.Stop
	}
	return b.b.NextBackOff()
}

func (e *rollbackExporter) backoff() retrySchedule {
	rc := e.cfg.RetryConfig
	if !rc.Enabled {
		return noRetry{}
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = rc.InitialInterval
	b.MaxInterval = rc.MaxInterval
	b.RandomizationFactor = rc.RandomizationFactor
	b.Multiplier = rc.Multiplier
	b.Reset()
	return &boundedBackoff{b: b, start: time.Now(), max: rc.MaxElapsedTime, now: time.Now}
}

// finish records the outcome and closes the ledger entry.
func (e *rollbackExporter) finish(ctx context.Context, d *release.Decision, t boundTarget, action release.Action, status release.OutcomeStatus,
	detail string, reqs []release.RecordedRequest, attempts int, actor string) error {
	if err := e.record(ctx, d, t, action, status, detail, reqs, attempts, actor); err != nil {
		e.ledger.Release(d.DecisionID, t.cfg.Name)
		return err
	}
	// A failure does not take the release's action: a later decision may
	// try again.
	takenAction := string(action)
	if status == release.OutcomeFailed || status == release.OutcomeSkipped {
		takenAction = ""
	}
	return e.ledger.Finish(ctx, d.DecisionID, t.cfg.Name, d.ReleaseID(), takenAction, ledger.Entry{Status: string(status), At: e.now()})
}

// record writes an outcome to the store (which emits it as release.action).
func (e *rollbackExporter) record(ctx context.Context, d *release.Decision, t boundTarget, action release.Action, status release.OutcomeStatus,
	detail string, reqs []release.RecordedRequest, attempts int, actor string) error {
	o := release.ActionOutcome{
		ID: "act-" + idempotencyKey(d.DecisionID, t.cfg.Name+"/"+string(status)), DecisionID: d.DecisionID, ReleaseID: d.ReleaseID(),
		Target: t.cfg.Name, TargetType: t.cfg.Type, Action: action, Status: status, Detail: detail,
		Requests: reqs, Attempts: attempts, At: e.now(), Actor: actor,
	}
	e.telemetry.RollbackActions.Add(ctx, 1, metric.WithAttributes(attribute.String("target", t.cfg.Name),
		attribute.String("action", string(action)), attribute.String("outcome", string(status))))
	e.logger.Info("Release action", zap.String("decision_id", d.DecisionID), zap.String("target", t.cfg.Name),
		zap.String("action", string(action)), zap.String("outcome", string(status)), zap.String("detail", detail))
	if err := e.store.RecordOutcome(ctx, o); err != nil {
		return fmt.Errorf("recording the outcome of %s on %s: %w", d.DecisionID, t.cfg.Name, err)
	}
	return nil
}

func (e *rollbackExporter) traceURL(id string) string {
	if e.cfg.TraceURLTemplate == "" {
		return ""
	}
	return strings.ReplaceAll(e.cfg.TraceURLTemplate, "{trace_id}", id)
}

// withAction returns the decision as carried out (the brake may have
// turned it into a notification).
func withAction(d *release.Decision, a release.Action) *release.Decision {
	if d.Action == a {
		return d
	}
	c := *d
	c.Action = a
	return &c
}

func idempotencyKey(decisionID, target string) string {
	sum := sha256.Sum256([]byte(decisionID + "\x00" + target))
	return hex.EncodeToString(sum[:12])
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
