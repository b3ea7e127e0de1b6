// Package ledger remembers which decisions were carried out on which
// targets, so that each is carried out at most once across retries,
// duplicates and restarts, and counts automated actions for the brake. It
// persists through a collector storage client, or stays in memory.
package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// Ledger is safe for concurrent use.
type Ledger struct {
	mu     sync.Mutex
	client storage.Client // nil: memory only
	mem    map[string][]byte
	// inFlight marks (decision, target) pairs being carried out now, so a
	// concurrent duplicate delivery waits its turn instead of acting too.
	inFlight map[string]bool

	// In a fleet, claims are taken in the shared store too, so that one
	// replica carries a decision out on a target while the others wait.
	claims   Claims
	holder   string
	claimTTL time.Duration
}

// Claims are claims shared by a fleet: at most one holder has a key's
// unexpired claim, and none once the key has a value.
type Claims interface {
	Claim(ctx context.Context, key, holder string, ttl time.Duration) (bool, error)
	Unclaim(ctx context.Context, key, holder string) error
}

// New returns a ledger on the client (nil for memory only).
func New(client storage.Client) *Ledger {
	return &Ledger{client: client, mem: map[string][]byte{}, inFlight: map[string]bool{}}
}

// NewShared returns a ledger of a fleet: entries in the shared client,
// claims shared as holder for ttl (longer than carrying an action out may
// take, retries included: a replica that dies holding a claim keeps the
// others from acting for that long).
func NewShared(client storage.Client, claims Claims, holder string, ttl time.Duration) *Ledger {
	l := New(client)
	l.claims, l.holder, l.claimTTL = claims, holder, ttl
	return l
}

// Shared reports whether the ledger is shared by a fleet.
func (l *Ledger) Shared() bool { return l.claims != nil }

func (l *Ledger) get(ctx context.Context, key string) ([]byte, error) {
	if l.client == nil {
		return l.mem[key], nil
	}
	return l.client.Get(ctx, key)
}

func (l *Ledger) set(ctx context.Context, key string, value []byte) error {
	if l.client == nil {
		l.mem[key] = value
		return nil
	}
	return l.client.Set(ctx, key, value)
}

func doneKey(decisionID, target string) string { return "done/" + decisionID + "\x00" + target }

// ClaimKey is the storage key under which a (decision, target) is claimed
// and then finished: what an operator looking at the fleet's shared ledger
// table sees.
func ClaimKey(decisionID, target string) string { return doneKey(decisionID, target) }

func releaseKey(releaseID, action, target string) string {
	return "release/" + releaseID + "\x00" + action + "\x00" + target
}

func brakeKey(env string) string { return "brake/" + env }

// Entry is what the ledger keeps of a finished (decision, target).
type Entry struct {
	Status  string    `json:"status"`
	Outcome string    `json:"outcome_id"`
	At      time.Time `json:"at"`
}

// Claim starts carrying out a decision on a target. It returns the entry
// if it was already finished, or claimed=false if another delivery is
// carrying it out right now; otherwise claimed=true and the caller must
// call Finish or Release.
func (l *Ledger) Claim(ctx context.Context, decisionID, target string) (done *Entry, claimed bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := doneKey(decisionID, target)
	raw, err := l.get(ctx, k)
	if err != nil {
		return nil, false, fmt.Errorf("reading the ledger: %w", err)
	}
	if raw != nil {
		var e Entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, false, fmt.Errorf("decoding the ledger: %w", err)
		}
		return &e, false, nil
	}
	if l.inFlight[k] {
		return nil, false, nil
	}
	if l.claims != nil {
		ok, err := l.claims.Claim(ctx, k, l.holder, l.claimTTL)
		if err != nil {
			return nil, false, fmt.Errorf("claiming in the shared ledger: %w", err)
		}
		if !ok {
			// Another replica carries it out, or finished meanwhile.
			return nil, false, nil
		}
	}
	l.inFlight[k] = true
	return nil, true, nil
}

// Release gives a claim back without finishing (the work will be retried).
func (l *Ledger) Release(decisionID, target string) {
	k := doneKey(decisionID, target)
	l.mu.Lock()
	delete(l.inFlight, k)
	l.mu.Unlock()
	if l.claims != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Best effort: an unreleased claim expires.
		_ = l.claims.Unclaim(ctx, k, l.holder)
	}
}

// Extend renews this replica's shared claim while it still carries a
// decision out (between retries), and reports whether it still holds it:
// false means the claim expired and another replica took it over, so this
// one must stop. Without a fleet it always holds.
func (l *Ledger) Extend(ctx context.Context, decisionID, target string) (bool, error) {
	if l.claims == nil {
		return true, nil
	}
	ok, err := l.claims.Claim(ctx, doneKey(decisionID, target), l.holder, l.claimTTL)
	if err != nil {
		return false, fmt.Errorf("renewing the shared ledger claim: %w", err)
	}
	return ok, nil
}

// Finish records a claimed (decision, target) as finished, and the
// release's action on the target as taken by this decision.
func (l *Ledger) Finish(ctx context.Context, decisionID, target, releaseID, action string, e Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := doneKey(decisionID, target)
	delete(l.inFlight, k)
	raw, _ := json.Marshal(e)
	ops := []*storage.Operation{storage.SetOperation(k, raw)}
	if releaseID != "" && action != "" {
		ops = append(ops, storage.SetOperation(releaseKey(releaseID, action, target), []byte(decisionID)))
	}
	if l.client == nil {
		for _, op := range ops {
			l.mem[op.Key] = op.Value
		}
		return nil
	}
	return l.client.Batch(ctx, ops...)
}

// TakenBy returns the decision that already took this action for the
// release on the target, if any.
func (l *Ledger) TakenBy(ctx context.Context, releaseID, action, target string) (string, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	raw, err := l.get(ctx, releaseKey(releaseID, action, target))
	if err != nil || raw == nil {
		return "", false, err
	}
	return string(raw), true, nil
}

// brakeState lists when automated actions were taken in an environment.
type brakeState struct {
	Times []time.Time `json:"times"`
	// Decisions already counted, so a decision counts once.
	Decisions []string `json:"decisions"`
}

func (l *Ledger) brake(ctx context.Context, env string) (brakeState, error) {
	var st brakeState
	raw, err := l.get(ctx, brakeKey(env))
	if err != nil || raw == nil {
		return st, err
	}
	return st, json.Unmarshal(raw, &st)
}

// BrakeCount counts the automated actions taken in env since.
func (l *Ledger) BrakeCount(ctx context.Context, env string, since time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.brake(ctx, env)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range st.Times {
		if !t.Before(since) {
			n++
		}
	}
	return n, nil
}

// CountAction records an automated action of decisionID in env (once per
// decision), forgetting those older than keepSince.
func (l *Ledger) CountAction(ctx context.Context, env, decisionID string, at, keepSince time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.brake(ctx, env)
	if err != nil {
		return err
	}
	for _, d := range st.Decisions {
		if d == decisionID {
			return nil
		}
	}
	var next brakeState
	for i, t := range st.Times {
		if !t.Before(keepSince) {
			next.Times = append(next.Times, t)
			next.Decisions = append(next.Decisions, st.Decisions[i])
		}
	}
	next.Times = append(next.Times, at)
	next.Decisions = append(next.Decisions, decisionID)
	raw, _ := json.Marshal(next)
	return l.set(ctx, brakeKey(env), raw)
}

// Close releases the storage client.
func (l *Ledger) Close(ctx context.Context) error {
	if l.client == nil {
		return nil
	}
	return l.client.Close(ctx)
}
