package pgshared

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func appendN(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := range n {
		_, _, err := db.Append(testCtx(t), [][]byte{fmt.Appendf(nil, "r%d", i)})
		require.NoError(t, err)
	}
}

func TestSnapshotPrunesAndErrBehind(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := testCtx(t)

	seq, data, err := db.LoadSnapshot(ctx)
	require.NoError(t, err)
	require.Zero(t, seq)
	require.Nil(t, data)

	appendN(t, db, 10)
	// A long keepLog keeps the log.
	require.NoError(t, db.SaveSnapshot(ctx, 6, []byte("s6"), time.Hour))
	entries, err := db.ReadAfter(ctx, 0, 0)
	require.NoError(t, err)
	require.Len(t, entries, 10)

	// keepLog 0 prunes up to the snapshot at once.
	require.NoError(t, db.SaveSnapshot(ctx, 8, []byte("s8"), 0))
	seq, data, err = db.LoadSnapshot(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(8), seq)
	require.Equal(t, "s8", string(data))

	_, err = db.ReadAfter(ctx, 3, 0)
	require.ErrorIs(t, err, ErrBehind)
	_, err = db.ReadAfter(ctx, 7, 0)
	require.ErrorIs(t, err, ErrBehind)
	entries, err = db.ReadAfter(ctx, 8, 0)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, int64(9), entries[0].Seq)
	entries, err = db.ReadAfter(ctx, 10, 0)
	require.NoError(t, err)
	require.Empty(t, entries)

	// Seqs continue after pruning.
	head, err := db.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(10), head)
	require.NoError(t, db.SaveSnapshot(ctx, 10, []byte("s10"), 0))
	entries, err = db.ReadAfter(ctx, 10, 0)
	require.NoError(t, err)
	require.Empty(t, entries)
	first, _, err := db.Append(ctx, [][]byte{[]byte("x")})
	require.NoError(t, err)
	require.Equal(t, int64(11), first)
}

func TestSnapshotOlderDoesNotOverwrite(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	a, b := openDB(t, schema), openDB(t, schema)
	ctx := testCtx(t)
	appendN(t, a, 5)
	require.NoError(t, a.SaveSnapshot(ctx, 5, []byte("new"), time.Hour))
	require.NoError(t, b.SaveSnapshot(ctx, 3, []byte("old"), time.Hour))
	require.NoError(t, b.SaveSnapshot(ctx, 5, []byte("same seq"), time.Hour))
	seq, data, err := b.LoadSnapshot(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(5), seq)
	require.Equal(t, "new", string(data))
}
