package pgshared

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two replicas append concurrently while a reader follows with ReadAfter: the
// reader sees every seq once, with no gaps, in commit order.
func TestAppendConcurrentReaderSeesEverySeqOnce(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	dbs := []*DB{openDB(t, schema), openDB(t, schema)}
	ctx := testCtx(t)

	const writers, appends = 8, 50
	type appended struct {
		first, last int64
		recs        [][]byte
	}
	results := make([][]appended, writers)
	total := 0
	for w := range writers {
		for j := range appends {
			total += 1 + (w+j)%3
		}
	}

	var seen []Entry
	readerDone := make(chan error, 1)
	go func() {
		var after int64
		for len(seen) < total {
			entries, err := dbs[1].ReadAfter(ctx, after, 37)
			if err != nil {
				readerDone <- err
				return
			}
			for _, e := range entries {
				if e.Seq != after+1 {
					readerDone <- fmt.Errorf("after %d read seq %d", after, e.Seq)
					return
				}
				after = e.Seq
				seen = append(seen, e)
			}
			if len(entries) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		readerDone <- nil
	}()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := dbs[w%2]
			for j := range appends {
				var recs [][]byte
				for k := range 1 + (w+j)%3 {
					recs = append(recs, fmt.Appendf(nil, "w%d-%03d-%d", w, j, k))
				}
				first, last, err := db.Append(ctx, recs)
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, int64(len(recs)), last-first+1)
				results[w] = append(results[w], appended{first, last, recs})
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-readerDone:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("reader did not catch up")
	}

	require.Len(t, seen, total)
	head, err := dbs[0].Head(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(total), head)
	// Each append's records sit at the seqs it returned, and one writer's
	// appends are in its order.
	for w := range writers {
		var prev int64
		for _, a := range results[w] {
			require.Greater(t, a.first, prev)
			prev = a.last
			for i, r := range a.recs {
				require.Equal(t, string(r), string(seen[a.first-1+int64(i)].Data))
			}
		}
	}
	// Nothing more, and no-op appends.
	first, last, err := dbs[0].Append(ctx, nil)
	require.NoError(t, err)
	require.Zero(t, first)
	require.Zero(t, last)
	more, err := dbs[0].ReadAfter(ctx, head, 0)
	require.NoError(t, err)
	require.Empty(t, more)
	all, err := dbs[0].ReadAfter(ctx, 0, 0)
	require.NoError(t, err)
	require.Equal(t, seen, all)
}

// waitListener waits until db's Listen connection is up with a pid other than
// old, and returns its pid.
func waitListener(t *testing.T, ctx context.Context, db *DB, old int64) int64 {
	t.Helper()
	var pid int64
	require.Eventually(t, func() bool {
		err := db.pool.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`,
			db.listenName()).Scan(&pid)
		return err == nil && pid != 0 && pid != old
	}, 10*time.Second, 20*time.Millisecond)
	return pid
}

func killListener(t *testing.T, ctx context.Context, db *DB) {
	t.Helper()
	var n int
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		db.listenName()).Scan(&n))
	require.Equal(t, 1, n)
}

// Listen reports another replica's append within a second, and again after its
// connection was killed.
func TestListen(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	listener, writer := openDB(t, schema), openDB(t, schema)
	ctx := testCtx(t)

	lctx, stop := context.WithCancel(ctx)
	calls := make(chan struct{}, 1000)
	done := make(chan error, 1)
	go func() { done <- listener.Listen(lctx, func() { calls <- struct{}{} }) }()
	defer func() {
		stop()
		require.NoError(t, <-done)
	}()

	expectCall := func(what string) {
		t.Helper()
		select {
		case <-calls:
		case <-time.After(time.Second):
			t.Fatalf("no notify within 1s %s", what)
		}
	}
	drain := func() {
		for {
			select {
			case <-calls:
			default:
				return
			}
		}
	}
	pid := waitListener(t, ctx, listener, 0)
	expectCall("after connecting")
	drain()
	_, _, err := writer.Append(ctx, [][]byte{[]byte("a")})
	require.NoError(t, err)
	expectCall("after an append")

	killListener(t, ctx, listener)
	waitListener(t, ctx, listener, pid)
	drain()
	_, _, err = writer.Append(ctx, [][]byte{[]byte("b")})
	require.NoError(t, err)
	expectCall("after an append following a reconnect")
}

// listenLoop alone (no polling fallback): notifications really arrive, and a
// reconnect signals once more.
func TestListenLoopNotifies(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	listener, writer := openDB(t, schema), openDB(t, schema)
	ctx := testCtx(t)

	lctx, stop := context.WithCancel(ctx)
	signals := make(chan struct{}, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		listener.listenLoop(lctx, func() { signals <- struct{}{} })
	}()
	defer func() {
		stop()
		<-done
	}()
	expect := func(what string) {
		t.Helper()
		select {
		case <-signals:
		case <-time.After(time.Second):
			t.Fatalf("no signal within 1s %s", what)
		}
	}
	expectNone := func() {
		t.Helper()
		select {
		case <-signals:
			t.Fatal("unexpected signal")
		case <-time.After(100 * time.Millisecond):
		}
	}

	pid := waitListener(t, ctx, listener, 0)
	expect("after connecting")
	expectNone()
	_, _, err := writer.Append(ctx, [][]byte{[]byte("a"), []byte("b")})
	require.NoError(t, err)
	expect("after an append") // one notification per append
	expectNone()

	killListener(t, ctx, listener)
	waitListener(t, ctx, listener, pid)
	expect("after reconnecting")
	_, _, err = writer.Append(ctx, [][]byte{[]byte("c")})
	require.NoError(t, err)
	expect("after an append following a reconnect")
}
