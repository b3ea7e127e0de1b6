package detect

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// An arm's dependency list, exemplar ring and KPI sums hold what the plain
// forms (a map of dependencies capped at maxPeers, a ring indexed by a
// running count, KPI sums inside every slice's counts) would, on random
// traffic.
func TestArmCompactStateMatchesPlain(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	cls := SpanClassifier{ServerErrorMin: 500}
	for run := range 20 {
		a := newArm(ArmKey{Version: "v1"}, "", now, 10*time.Minute)
		peers := map[string]peerStat{}
		var ring [maxExemplars]pcommon.TraceID
		nExemplar := 0
		for batch := range 30 {
			td := ptrace.NewTraces()
			spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
			for range r.IntN(40) {
				sp := spans.AppendEmpty()
				var id pcommon.TraceID
				id[0], id[1] = byte(batch), byte(r.IntN(256))
				sp.SetTraceID(id)
				failed := r.IntN(4) == 0
				if failed {
					sp.Status().SetCode(ptrace.StatusCodeError)
				}
				if r.IntN(2) == 0 {
					sp.SetKind(ptrace.SpanKindServer)
					if failed {
						ring[nExemplar%maxExemplars] = id
						nExemplar++
					}
					continue
				}
				sp.SetKind(ptrace.SpanKindClient)
				peer := fmt.Sprintf("dep-%d", r.IntN(10+run*3))
				sp.Attributes().PutStr("peer.service", peer)
				if ps, ok := peers[peer]; ok || len(peers) < maxPeers {
					ps.calls++
					if failed {
						ps.failures++
					}
					peers[peer] = ps
				}
			}
			a.RecordSpans(cls, pcommon.NewMap(), td.ResourceSpans().At(0).ScopeSpans(), now)

			got := map[string]peerStat{}
			for _, p := range a.peerSnapshot() {
				got[p.peer] = p.peerStat
			}
			require.Equal(t, peers, got)
			var want []string
			for i := 0; i < min(nExemplar, maxExemplars); i++ {
				want = append(want, ring[(nExemplar-1-i)%maxExemplars].String())
			}
			require.Equal(t, want, append([]string(nil), a.Exemplars()...), "run %d batch %d", run, batch)
		}
		for p := range peers {
			require.Equal(t, peers[p], peerCount(a.peerSnapshot(), p))
		}
		require.Equal(t, peerStat{}, peerCount(a.peerSnapshot(), "nobody"))
	}

	// KPIs: the last slice's sums are this slice's, or nothing; never a
	// stale slice's, whether it came from metrics or another replica (an
	// arm may have KPIs from other replicas only).
	for _, metrics := range []bool{true, false} {
		a := newArm(ArmKey{Version: "v1"}, "", now, 10*time.Minute)
		for step := range 200 {
			var want [MaxKPIs]float64
			if metrics && r.IntN(3) == 0 {
				a.mu.Lock()
				for i := range MaxKPIs {
					if r.IntN(2) == 0 {
						v := float64(1 + r.IntN(9))
						if a.curKPI == nil {
							a.curKPI = new([MaxKPIs]float64)
						}
						a.curKPI[i] += v
						want[i] += v
					}
				}
				a.mu.Unlock()
			}
			now = now.Add(time.Second)
			a.rotate(now, 10*time.Minute, false)
			if r.IntN(4) == 0 {
				kpi := make([]float64, MaxKPIs)
				for i := range kpi {
					kpi[i] = float64(r.IntN(3))
					want[i] += kpi[i]
				}
				a.mergeSlice(&ArmSlice{KPI: kpi})
			}
			require.Equal(t, want, a.lastCounts().kpi, "step %d", step)
			for i := range MaxKPIs {
				require.Equal(t, want[i], a.lastKPIOf(i))
			}
		}
	}
}
