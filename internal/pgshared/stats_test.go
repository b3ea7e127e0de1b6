package pgshared

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStats(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	r1, r2 := openDB(t, schema), openDB(t, schema)
	ctx := testCtx(t)

	publish := func(db *DB, replica string, tick int) {
		t.Helper()
		require.NoError(t, db.PublishStats(ctx, replica, []StatRow{
			{Scope: "rel-a", Data: fmt.Appendf(nil, "%s-a-%d", replica, tick)},
			{Scope: "rel-b", Data: fmt.Appendf(nil, "%s-b-%d", replica, tick)},
		}))
	}
	require.NoError(t, r1.PublishStats(ctx, "gw-1", nil))

	// Two replicas publish interleaved while gw-3 (the lease holder) reads
	// rel-a repeatedly with cursors: every row exactly once, in order.
	got := map[string][]string{}
	cur := StatCursor{}
	read := func() {
		rows, next, err := r2.ReadStats(ctx, []string{"rel-a"}, "gw-3", cur)
		require.NoError(t, err)
		for i, r := range rows {
			require.Equal(t, "rel-a", r.Scope)
			if i > 0 && rows[i-1].Replica == r.Replica {
				require.Greater(t, r.Seq, rows[i-1].Seq)
			}
			require.Greater(t, r.Seq, cur[r.Replica])
			got[r.Replica] = append(got[r.Replica], string(r.Data))
		}
		cur = next
	}
	for tick := range 5 {
		publish(r1, "gw-1", tick)
		read()
		publish(r2, "gw-2", tick)
		publish(r1, "gw-3", tick)
		read()
	}
	read()
	for _, rep := range []string{"gw-1", "gw-2"} {
		require.Len(t, got[rep], 5)
		for tick := range 5 {
			require.Equal(t, fmt.Sprintf("%s-a-%d", rep, tick), got[rep][tick])
		}
	}
	require.NotContains(t, got, "gw-3", "excluded")
	require.Equal(t, StatCursor{"gw-1": 9, "gw-2": 9}, cur)

	// The caller's cursor is not modified.
	before := StatCursor{"gw-1": 8}
	rows, next, err := r1.ReadStats(ctx, []string{"rel-a", "rel-b"}, "gw-2", before)
	require.NoError(t, err)
	require.Equal(t, StatCursor{"gw-1": 8}, before)
	require.Equal(t, int64(10), next["gw-1"])
	require.Equal(t, int64(10), next["gw-3"])
	var desc []string
	for _, r := range rows {
		desc = append(desc, fmt.Sprintf("%s/%d/%s", r.Replica, r.Seq, r.Scope))
	}
	require.Equal(t, []string{"gw-1/9/rel-a", "gw-1/10/rel-b"}, desc[:2])
	require.Len(t, rows, 12)

	// From now: only newer rows.
	head, err := r2.StatsHead(ctx)
	require.NoError(t, err)
	require.Equal(t, StatCursor{"gw-1": 10, "gw-2": 10, "gw-3": 10}, head)
	rows, _, err = r2.ReadStats(ctx, []string{"rel-a", "rel-b"}, "", head)
	require.NoError(t, err)
	require.Empty(t, rows)
	publish(r2, "gw-2", 99)
	rows, _, err = r2.ReadStats(ctx, []string{"rel-b"}, "", head)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, StatRow{Replica: "gw-2", Seq: 12, Scope: "rel-b", Data: []byte("gw-2-b-99")}, rows[0])

	// Prune: a long horizon keeps everything, a short one drops the old rows;
	// seqs keep increasing after a prune.
	n, err := r1.PruneStats(ctx, time.Hour)
	require.NoError(t, err)
	require.Zero(t, n)
	time.Sleep(50 * time.Millisecond)
	n, err = r1.PruneStats(ctx, 10*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, int64(32), n)
	publish(r1, "gw-1", 100)
	rows, _, err = r2.ReadStats(ctx, []string{"rel-a"}, "", nil)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, int64(11), rows[0].Seq)
}

func TestReplicas(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := testCtx(t)
	require.NoError(t, db.Heartbeat(ctx, "gw-1", []byte(`{"v":1}`)))
	require.NoError(t, db.Heartbeat(ctx, "gw-2", nil))
	got, err := db.Replicas(ctx, time.Minute)
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"gw-1": []byte(`{"v":1}`), "gw-2": nil}, got)

	time.Sleep(150 * time.Millisecond)
	require.NoError(t, db.Heartbeat(ctx, "gw-2", []byte("x")))
	got, err = db.Replicas(ctx, 100*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"gw-2": []byte("x")}, got)
}
