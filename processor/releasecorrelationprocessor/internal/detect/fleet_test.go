package detect

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// memoryFleet is the shared store of a fleet of detectors in one process:
// leases by release (first asker holds, until it is declared dead) and a
// queue of every published slice. The processor's PostgreSQL fleet is
// tested end to end on the built binary; this one tests what the detector
// does with the exchange.
type memoryFleet struct {
	mu      sync.Mutex
	holder  map[string]string
	dead    map[string]bool
	slices  []FleetSlice
	readPos map[string]int
	down    bool
}

type fleetMember struct {
	fleet   *memoryFleet
	replica string
}

func (m fleetMember) Exchange(_ context.Context, out []FleetSlice, evaluating []string) ([]FleetSlice, map[string]bool, error) {
	f := m.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, nil, errors.New("store unreachable")
	}
	for _, s := range out {
		s.Replica = m.replica
		f.slices = append(f.slices, s)
	}
	held := map[string]bool{}
	for _, id := range evaluating {
		if h, ok := f.holder[id]; !ok || f.dead[h] {
			f.holder[id] = m.replica
		}
		held[id] = f.holder[id] == m.replica
	}
	var in []FleetSlice
	for _, s := range f.slices[f.readPos[m.replica]:] {
		if s.Replica != m.replica && held[s.Release] {
			in = append(in, s)
		}
	}
	f.readPos[m.replica] = len(f.slices)
	return in, held, nil
}

type fleetRun struct {
	decisions map[string][]*release.Decision // by replica
	deployAt  time.Time
}

func (r fleetRun) all() []*release.Decision {
	var out []*release.Decision
	for _, ds := range r.decisions {
		out = append(out, ds...)
	}
	return out
}

// runFleet spreads a canary's traffic round robin over n replicas (n=1: one
// collector, no fleet). killAt > 0 kills the replica holding the release
// that many seconds after the deploy; downFrom..downTo makes the store
// unreachable.
func runFleet(t *testing.T, seed uint64, n int, cand version, killAt int, downFrom, downTo int) fleetRun {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	clk := &fakeClock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	run := fleetRun{decisions: map[string][]*release.Decision{}}
	fleet := &memoryFleet{holder: map[string]string{}, dead: map[string]bool{}, readPos: map[string]int{}}
	dets := make([]*Detector, n)
	names := make([]string, n)
	for i := range dets {
		name := string(rune('a' + i))
		names[i] = name
		dets[i] = New(DefaultConfig(), clk, func(dec *release.Decision) { run.decisions[name] = append(run.decisions[name], dec) })
		if n > 1 {
			dets[i].SetFleet(fleetMember{fleet: fleet, replica: name}, name)
		}
	}
	old := ArmKey{Service: svc, Version: "1.4.1"}
	neu := ArmKey{Service: svc, Version: "1.4.2"}
	other := ArmKey{Service: release.ServiceKey{Name: "cart", Environment: "production"}, Version: "7"}
	alive := func(i int) bool { return !fleet.dead[names[i]] }
	second := func(versions map[ArmKey]version) {
		for _, k := range []ArmKey{old, neu, other} {
			v, ok := versions[k]
			if !ok || v.rps == 0 {
				continue
			}
			// Round robin: each replica gets its share of each second.
			share := v
			share.rps = v.rps / float64(n)
			for i, d := range dets {
				if alive(i) {
					d.Arm(k, "").RecordSpans(d.Classifier(), pcommon.NewMap(), spans(r, share), clk.now)
				}
			}
		}
		clk.now = clk.now.Add(time.Second)
		for i, d := range dets {
			if alive(i) {
				d.Tick()
			}
		}
	}
	base := version{rps: 300, errorRate: 0.01, latency: 50 * time.Millisecond}
	others := version{rps: 150, errorRate: 0.01, latency: 20 * time.Millisecond}
	for s := 0; s < 120; s++ {
		second(map[ArmKey]version{old: base, other: others})
	}
	run.deployAt = clk.now
	rel := &release.Release{ID: "deploy-4711", Status: release.StatusInProgress, StartedAt: clk.now,
		Attributes: map[string]string{release.AttrServiceName: "checkout", release.AttrServiceNamespace: "shop",
			release.AttrServiceVersion: "v1.4.2", release.AttrDeploymentEnvironment: "production"},
		Release: release.Context{PreviousVersion: "v1.4.1", Strategy: release.StrategyCanary}}
	for _, d := range dets {
		d.OnRelease(rel)
	}
	control := base
	control.rps = 270
	for s := 0; s < 240; s++ {
		if killAt > 0 && s == killAt {
			fleet.mu.Lock()
			fleet.dead[fleet.holder[rel.ID]] = true
			fleet.mu.Unlock()
		}
		fleet.mu.Lock()
		fleet.down = downTo > 0 && s >= downFrom && s < downTo
		fleet.mu.Unlock()
		second(map[ArmKey]version{old: control, neu: cand, other: others})
	}
	return run
}

func firstAction(ds []*release.Decision, a release.Action) *release.Decision {
	for _, d := range ds {
		if d.Action == a {
			return d
		}
	}
	return nil
}

// Three replicas each see a third of the traffic; the holder adds the
// others' statistics to its own, so the fleet decides once, as fast as one
// collector seeing everything.
func TestFleetDecidesOnceAsFastAsOneCollector(t *testing.T) {
	bad := version{rps: 30, errorRate: 0.04, latency: 50 * time.Millisecond}
	var single, fleet []time.Duration
	for seed := uint64(1); seed <= 10; seed++ {
		one := runFleet(t, seed, 1, bad, 0, 0, 0)
		d1 := firstAction(one.all(), release.ActionRollback)
		if d1 == nil {
			t.Fatalf("seed %d: one collector did not roll back: %+v", seed, one.all())
		}
		three := runFleet(t, seed, 3, bad, 0, 0, 0)
		var rollbacks, deciders int
		for _, ds := range three.decisions {
			if len(ds) > 0 {
				deciders++
			}
			for _, d := range ds {
				if d.Action == release.ActionRollback {
					rollbacks++
				}
			}
		}
		if rollbacks != 1 || deciders != 1 {
			t.Fatalf("seed %d: want one rollback by one replica, got %d rollbacks by %d replicas: %+v", seed, rollbacks, deciders, three.decisions)
		}
		d3 := firstAction(three.all(), release.ActionRollback)
		// The merged evidence is the whole traffic: candidate samples come
		// in, after the warm-up, as fast as to one collector (a third as
		// fast, unmerged).
		warmup := DefaultConfig().Warmup
		rate := func(d *release.Decision, deployAt time.Time) float64 {
			return float64(d.Evidence[0].Samples.Candidate) / (d.DecidedAt.Sub(deployAt) - warmup).Seconds()
		}
		t.Logf("seed %d: one %s %d samples, fleet %s %d samples", seed, d1.DecidedAt.Sub(one.deployAt), d1.Evidence[0].Samples.Candidate, d3.DecidedAt.Sub(three.deployAt), d3.Evidence[0].Samples.Candidate)
		if !strings.Contains(d3.Rationale, "on the telemetry of 3 replicas") {
			t.Fatalf("seed %d: the rationale does not say whose telemetry it holds: %s", seed, d3.Rationale)
		}
		if got, want := rate(d3, three.deployAt), rate(d1, one.deployAt); got < 0.9*want {
			t.Fatalf("seed %d: fleet got %.1f candidate samples/s, one collector %.1f: statistics not merged", seed, got, want)
		}
		single = append(single, d1.DecidedAt.Sub(one.deployAt))
		fleet = append(fleet, d3.DecidedAt.Sub(three.deployAt))
	}
	var sumOne, sumFleet time.Duration
	for i := range single {
		sumOne += single[i]
		sumFleet += fleet[i]
	}
	t.Logf("mean time to rollback: one collector %s, fleet of three %s", sumOne/10, sumFleet/10)
	if sumFleet > sumOne*3/2 {
		t.Fatalf("fleet took %s on average, one collector %s: more than 1.5x", sumFleet/10, sumOne/10)
	}
}

// Without the exchange each replica would judge a third of the traffic:
// check that a replica alone is slower, so the test above can fail.
func TestFleetReplicaAloneIsSlower(t *testing.T) {
	bad := version{rps: 30, errorRate: 0.04, latency: 50 * time.Millisecond}
	third := bad
	third.rps = bad.rps / 3
	var sumOne, sumThird time.Duration
	for seed := uint64(1); seed <= 10; seed++ {
		one := runFleet(t, seed, 1, bad, 0, 0, 0)
		alone := runFleet(t, seed, 1, third, 0, 0, 0)
		d1, d3 := firstAction(one.all(), release.ActionRollback), firstAction(alone.all(), release.ActionRollback)
		if d1 == nil {
			t.Fatalf("seed %d: no rollback", seed)
		}
		sumOne += d1.DecidedAt.Sub(one.deployAt)
		if d3 == nil {
			sumThird += 240 * time.Second
		} else {
			sumThird += d3.DecidedAt.Sub(alone.deployAt)
		}
	}
	t.Logf("one collector %s, a third of the traffic %s", sumOne/10, sumThird/10)
	if sumThird <= sumOne*3/2 {
		t.Fatalf("a third of the traffic decided in %s, all of it in %s: the fleet test could not tell merged from unmerged", sumThird/10, sumOne/10)
	}
}

// The holder dies mid-evaluation: another replica takes the lease over and
// decides, once.
func TestFleetTakeoverAfterTheHolderDies(t *testing.T) {
	bad := version{rps: 30, errorRate: 0.04, latency: 50 * time.Millisecond}
	for seed := uint64(1); seed <= 5; seed++ {
		run := runFleet(t, seed, 3, bad, 12, 0, 0)
		var rollbacks []string
		for name, ds := range run.decisions {
			for _, d := range ds {
				if d.Action == release.ActionRollback {
					rollbacks = append(rollbacks, name)
				}
			}
		}
		if len(rollbacks) != 1 || rollbacks[0] == "a" {
			t.Fatalf("seed %d: want one rollback by a surviving replica, got %v", seed, rollbacks)
		}
	}
}

// The store unreachable: nobody decides while it is; detection resumes
// when it is back, and says why it held.
func TestFleetHoldsWhileTheStoreIsUnreachable(t *testing.T) {
	bad := version{rps: 30, errorRate: 0.04, latency: 50 * time.Millisecond}
	run := runFleet(t, 3, 3, bad, 0, 0, 90)
	d := firstAction(run.all(), release.ActionRollback)
	if d == nil {
		t.Fatalf("no rollback after the store came back: %+v", run.all())
	}
	if took := d.DecidedAt.Sub(run.deployAt); took < 90*time.Second {
		t.Fatalf("decided %s after the deploy, while the store was unreachable", took)
	}
	if len(run.all()) != 1 {
		t.Fatalf("want one decision, got %+v", run.all())
	}
}

func TestFleetHealthReportsTheExchangeError(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	f := &memoryFleet{holder: map[string]string{}, dead: map[string]bool{}, readPos: map[string]int{}, down: true}
	d := New(DefaultConfig(), clk, func(*release.Decision) {})
	d.SetFleet(fleetMember{fleet: f, replica: "a"}, "a")
	d.Tick()
	if ok, err := d.FleetHealth(); ok || err == nil {
		t.Fatalf("FleetHealth = %v, %v; want the exchange error", ok, err)
	}
	f.down = false
	d.Tick()
	if ok, err := d.FleetHealth(); !ok || err != nil {
		t.Fatalf("FleetHealth = %v, %v after recovery", ok, err)
	}
}
