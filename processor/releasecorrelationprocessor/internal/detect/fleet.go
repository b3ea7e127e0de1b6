package detect

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Fleet connects the detector to the other replicas of a gateway fleet
// (several collectors behind a load balancer, sharing one release store).
// Each replica sees a part of every service's telemetry. Once per interval
// every replica publishes what it saw of the versions under evaluation (the
// sufficient statistics of the interval: counts, the latency histogram,
// breakdown and dependency counts), and exactly one replica per release,
// the holder of its lease, adds the others' statistics to its own and
// decides. The others keep evaluating their own part without deciding, so
// that one of them can take over when the holder dies.
type Fleet interface {
	// Exchange publishes this replica's slices and returns the other
	// replicas' slices of the releases this replica holds, and which of
	// evaluating it holds. An error means the exchange failed: this replica
	// then holds nothing, and decides nothing, until it succeeds again.
	Exchange(ctx context.Context, out []FleetSlice, evaluating []string) (in []FleetSlice, held map[string]bool, err error)
}

// FleetSlice is one replica's telemetry of one release's compared versions
// over one interval.
type FleetSlice struct {
	// Replica is set by Fleet on the slices it returns.
	Replica string     `json:"-"`
	Release string     `json:"release"`
	Tick    int64      `json:"tick"`
	Arms    []ArmSlice `json:"arms"`
}

// ArmSlice is one version's counts over one interval.
type ArmSlice struct {
	Version   string    `json:"version"`
	Requests  float64   `json:"requests,omitempty"`
	Failures  float64   `json:"failures,omitempty"`
	Logs      float64   `json:"logs,omitempty"`
	LogErrors float64   `json:"log_errors,omitempty"`
	KPI       []float64 `json:"kpi,omitempty"`
	// Latency is the histogram's non-empty buckets, as (bucket, count).
	Latency [][2]uint32 `json:"latency,omitempty"`
	// Slices are the breakdown counts of the interval: dimension, value,
	// (requests, failures).
	Slices map[string]map[string][2]float64 `json:"slices,omitempty"`
	// Peers are the dependency calls of the interval: (calls, failures).
	Peers map[string][2]float64 `json:"peers,omitempty"`
}

// fleetExchangeTimeout bounds one exchange: a slow store delays a tick by
// this much at most.
const fleetExchangeTimeout = 2 * time.Second

// SetFleet makes the detector the replica named self of a fleet. Set it
// before the first Tick.
func (d *Detector) SetFleet(f Fleet, self string) { d.fleet, d.fleetSelf = f, self }

// FleetHealth says whether the last exchange with the fleet succeeded, and
// the error when it did not (for logs and metrics).
func (d *Detector) FleetHealth() (ok bool, err error) {
	d.fleetMu.Lock()
	defer d.fleetMu.Unlock()
	return d.fleetErr == nil, d.fleetErr
}

// fleetPublished is what an arm has published of its cumulative breakdown
// and dependency counts, to publish only what is new.
type fleetPublished struct {
	slices map[string]map[string]sliceStat
	peers  map[string]peerStat
}

// exportSlice returns the arm's last interval as an ArmSlice. Called from
// the evaluation goroutine after rotate, before remote slices are merged.
func (a *Arm) exportSlice() ArmSlice {
	s := ArmSlice{Version: a.key.Version, Requests: a.last.requests, Failures: a.last.failures,
		Logs: a.last.logs, LogErrors: a.last.logErrors}
	if a.lastKPI != nil && *a.lastKPI != ([MaxKPIs]float64{}) {
		s.KPI = append([]float64(nil), a.lastKPI[:]...)
	}
	if h := a.lastHist; h != nil {
		for i := range h.len() {
			if c := h.at(i); c > 0 {
				s.Latency = append(s.Latency, [2]uint32{uint32(int(h.lo) + i), c})
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fleetPub == nil {
		a.fleetPub = &fleetPublished{slices: map[string]map[string]sliceStat{}, peers: map[string]peerStat{}}
	}
	for dim, vals := range a.slices {
		pub := a.fleetPub.slices[dim]
		if pub == nil {
			pub = map[string]sliceStat{}
			a.fleetPub.slices[dim] = pub
		}
		for v, st := range vals {
			if d := (sliceStat{st.requests - pub[v].requests, st.failures - pub[v].failures}); d != (sliceStat{}) {
				if s.Slices == nil {
					s.Slices = map[string]map[string][2]float64{}
				}
				if s.Slices[dim] == nil {
					s.Slices[dim] = map[string][2]float64{}
				}
				s.Slices[dim][v] = [2]float64{d.requests, d.failures}
				pub[v] = *st
			}
		}
	}
	for i := range a.peers {
		peer, st := a.peers[i].peer, &a.peers[i].peerStat
		pub := a.fleetPub.peers[peer]
		if d := (peerStat{st.calls - pub.calls, st.failures - pub.failures}); d != (peerStat{}) {
			if s.Peers == nil {
				s.Peers = map[string][2]float64{}
			}
			s.Peers[peer] = [2]float64{d.calls, d.failures}
			a.fleetPub.peers[peer] = *st
		}
	}
	return s
}

// mergeSlice adds another replica's interval to the arm's last interval
// and to its cumulative breakdown and dependency counts (and to what counts
// as published, so that this replica does not publish it again). Called
// from the evaluation goroutine.
func (a *Arm) mergeSlice(s *ArmSlice) {
	a.last.requests += s.Requests
	a.last.failures += s.Failures
	a.last.logs += s.Logs
	a.last.logErrors += s.LogErrors
	for i, v := range s.KPI {
		if i < MaxKPIs {
			if a.lastKPI == nil {
				a.lastKPI = new([MaxKPIs]float64)
			}
			a.lastKPI[i] += v
		}
	}
	if len(s.Latency) > 0 {
		if a.lastHist == nil {
			a.lastHist = new(spanHistogram)
		}
		for _, b := range s.Latency {
			if int(b[0]) < numBuckets {
				a.lastHist.addBucket(int(b[0]), b[1])
			}
		}
	}
	if len(s.Slices) == 0 && len(s.Peers) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fleetPub == nil {
		a.fleetPub = &fleetPublished{slices: map[string]map[string]sliceStat{}, peers: map[string]peerStat{}}
	}
	for dim, vals := range s.Slices {
		ds := breakdownState{name: dim}
		for v, c := range vals {
			st := a.sliceStat(&ds, v)
			st.requests += c[0]
			st.failures += c[1]
			pub := a.fleetPub.slices[dim]
			if pub == nil {
				pub = map[string]sliceStat{}
				a.fleetPub.slices[dim] = pub
			}
			// The value may have been folded into "other": publish
			// nothing of it either way.
			for key, cur := range ds.vals {
				if cur == st {
					pub[key] = *st
				}
			}
		}
	}
	for peer, c := range s.Peers {
		ps := a.peerStat(peer)
		if ps == nil {
			continue
		}
		ps.calls += c[0]
		ps.failures += c[1]
		a.fleetPub.peers[peer] = *ps
	}
}

// exchange publishes this replica's slices of every evaluation and merges
// the other replicas' slices of the evaluations it holds. It returns the
// held set; nil when the detector is not part of a fleet (it holds all).
func (d *Detector) exchange(now time.Time, evals []*evaluation) map[string]bool {
	if d.fleet == nil {
		return nil
	}
	out := make([]FleetSlice, 0, len(evals))
	ids := make([]string, 0, len(evals))
	for _, ev := range evals {
		ids = append(ids, ev.rel.ID)
		fs := FleetSlice{Release: ev.rel.ID, Tick: now.Unix()}
		for _, k := range [2]ArmKey{ev.cand, ev.ctrl} {
			if a := d.lookup(k); a != nil && a.inEval.Load() {
				fs.Arms = append(fs.Arms, a.exportSlice())
			}
		}
		if len(fs.Arms) > 0 {
			out = append(out, fs)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), fleetExchangeTimeout)
	in, held, err := d.fleet.Exchange(ctx, out, ids)
	cancel()
	d.fleetMu.Lock()
	d.fleetErr = err
	d.fleetMu.Unlock()
	if err != nil {
		return map[string]bool{}
	}
	byID := make(map[string]*evaluation, len(evals))
	for _, ev := range evals {
		byID[ev.rel.ID] = ev
	}
	// An arm compared in two releases arrives in the slices of both: add
	// each replica's interval of it once.
	type mergeKey struct {
		replica string
		tick    int64
		arm     ArmKey
	}
	merged := map[mergeKey]bool{}
	for i := range in {
		fs := &in[i]
		ev := byID[fs.Release]
		if ev == nil || !held[fs.Release] {
			continue
		}
		for j := range fs.Arms {
			as := &fs.Arms[j]
			var k ArmKey
			switch as.Version {
			case ev.cand.Version:
				k = ev.cand
			case ev.ctrl.Version:
				k = ev.ctrl
			default:
				continue
			}
			if k.Version == "" {
				continue
			}
			mk := mergeKey{fs.Replica, fs.Tick, k}
			if merged[mk] {
				continue
			}
			merged[mk] = true
			a := d.Arm(k, as.Version)
			a.inEval.Store(true)
			a.mergeSlice(as)
			if ev.fleet == nil {
				ev.fleet = map[string]bool{}
			}
			ev.fleet[fs.Replica] = true
		}
	}
	return held
}

// fleetSentence says, in a decision's rationale, whose telemetry the
// evidence holds.
func (d *Detector) fleetSentence(ev *evaluation) string {
	if d.fleet == nil {
		return ""
	}
	others := make([]string, 0, len(ev.fleet))
	for r := range ev.fleet {
		others = append(others, r)
	}
	sort.Strings(others)
	if len(others) == 0 {
		return fmt.Sprintf(" Decided by fleet replica %s on its own telemetry: no other replica published statistics of these versions.", d.fleetSelf)
	}
	return fmt.Sprintf(" Decided by fleet replica %s on the telemetry of %d replicas (its own and %s's).", d.fleetSelf, len(others)+1, strings.Join(others, ", "))
}
