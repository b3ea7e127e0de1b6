package pgshared

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

func TestKVStorageClient(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := testCtx(t)
	var kv storage.Client = db.KV("ns1")
	other := db.KV("ns2")

	v, err := kv.Get(ctx, "missing")
	require.NoError(t, err)
	require.Nil(t, v)

	require.NoError(t, kv.Set(ctx, "k", []byte("v1")))
	require.NoError(t, kv.Set(ctx, "k", []byte("v2")))
	v, err = kv.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "v2", string(v))
	v, err = other.Get(ctx, "k")
	require.NoError(t, err)
	require.Nil(t, v, "namespaces are separate")

	require.NoError(t, kv.Set(ctx, "empty", []byte{}))
	v, err = kv.Get(ctx, "empty")
	require.NoError(t, err)
	require.NotNil(t, v)
	require.Empty(t, v)

	require.NoError(t, kv.Delete(ctx, "k"))
	require.NoError(t, kv.Delete(ctx, "k"))
	v, err = kv.Get(ctx, "k")
	require.NoError(t, err)
	require.Nil(t, v)

	get1, get2 := storage.GetOperation("b1"), storage.GetOperation("b2")
	require.NoError(t, kv.Batch(ctx,
		storage.SetOperation("b1", []byte("one")),
		storage.SetOperation("b2", []byte("two")),
		get1,
		storage.DeleteOperation("b2"),
		get2,
	))
	require.Equal(t, "one", string(get1.Value))
	require.Nil(t, get2.Value)
	v, err = kv.Get(ctx, "b2")
	require.NoError(t, err)
	require.Nil(t, v)

	// A failing batch leaves nothing behind.
	err = kv.Batch(ctx, storage.SetOperation("b3", []byte("x")), &storage.Operation{Key: "bad", Type: storage.OpType(99)})
	require.Error(t, err)
	v, err = kv.Get(ctx, "b3")
	require.NoError(t, err)
	require.Nil(t, v)

	// Keys are any bytes, as storage.Client allows: NUL and invalid UTF-8
	// (the rollback ledger joins its key parts with NUL).
	for _, key := range []string{"done/d1\x00hook", "\xff\xfe", "done/d1"} {
		require.NoError(t, kv.Set(ctx, key, []byte(key)))
	}
	for _, key := range []string{"done/d1\x00hook", "\xff\xfe", "done/d1"} {
		v, err = kv.Get(ctx, key)
		require.NoError(t, err)
		require.Equal(t, key, string(v))
	}
	ok, err := db.KV("ns1").Claim(ctx, "done/d2\x00hook", "r1", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)

	require.NoError(t, kv.Batch(ctx))
	require.NoError(t, kv.Close(ctx))
}

// 16 goroutines on two replicas claim one key: exactly one wins.
func TestKVClaimRace(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	kvs := []*KV{openDB(t, schema).KV("actions"), openDB(t, schema).KV("actions")}
	ctx := testCtx(t)
	for round := range 5 {
		key := fmt.Sprintf("rollback:%d", round)
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ok, err := kvs[g%2].Claim(ctx, key, fmt.Sprintf("h%d", g), time.Minute)
				assert.NoError(t, err)
				if ok {
					wins.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		require.Equal(t, int32(1), wins.Load(), key)
	}
}

func TestKVClaimLifecycle(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := testCtx(t)
	kv := db.KV("actions")

	ok, err := kv.Claim(ctx, "k", "a", 200*time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = kv.Claim(ctx, "k", "b", time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "claimed by a")
	ok, err = kv.Claim(ctx, "k", "a", 200*time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok, "a's own claim is extended")
	v, err := kv.Get(ctx, "k")
	require.NoError(t, err)
	require.Nil(t, v, "a claim is not a value")

	// The claim expires.
	time.Sleep(300 * time.Millisecond)
	ok, err = kv.Claim(ctx, "k", "b", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "a's claim expired")

	// Unclaim by another holder does nothing; by the holder frees it.
	require.NoError(t, kv.Unclaim(ctx, "k", "a"))
	ok, err = kv.Claim(ctx, "k", "c", time.Minute)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, kv.Unclaim(ctx, "k", "b"))
	ok, err = kv.Claim(ctx, "k", "c", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)

	// Set clears the claim; from then on nobody can claim.
	require.NoError(t, kv.Set(ctx, "k", []byte("done on gw-1")))
	for _, h := range []string{"a", "c"} {
		ok, err = kv.Claim(ctx, "k", h, time.Minute)
		require.NoError(t, err)
		require.False(t, ok, h)
	}
	require.NoError(t, kv.Unclaim(ctx, "k", "c"))
	v, err = kv.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "done on gw-1", string(v), "Unclaim never drops a value")
}
