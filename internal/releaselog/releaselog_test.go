package releaselog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func decision() *release.Decision {
	return &release.Decision{
		DecisionID: "dec-deploy-4711-rollback", Action: release.ActionRollback, Verdict: release.VerdictRegression,
		Cause: release.CauseEndogenous, Confidence: 0.995, DecidedAt: time.Date(2026, 11, 24, 10, 0, 40, 0, time.UTC),
		Release: map[string]string{
			release.AttrDeploymentID: "deploy-4711", release.AttrServiceName: "checkout",
			release.AttrDeploymentEnvironment: "production", release.AttrServiceVersion: "v1.4.2", "previous_version": "v1.4.1",
		},
		Evidence: []release.Evidence{{
			Signal: "error_rate", Control: 0.011, Candidate: 0.052, Effect: 4.7, Confidence: 0.995,
			Samples:   release.Samples{Control: 18211, Candidate: 2013},
			Window:    release.Window{Start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 24, 10, 0, 40, 0, time.UTC)},
			Exemplars: []string{"4bf92f3577b34da6a3ce929d0e0e4736"},
		}},
		Rationale: "checkout v1.4.2 fails 5.2% of requests vs 1.1% for v1.4.1",
	}
}

func TestDecisionRoundTrip(t *testing.T) {
	ld := plog.NewLogs()
	require.NoError(t, AppendDecision(ld, decision()))
	rl := ld.ResourceLogs().At(0)
	assert.Equal(t, map[string]any{
		"service.name": "checkout", "service.version": "v1.4.2", "deployment.environment.name": "production",
	}, rl.Resource().Attributes().AsRaw())
	lr := rl.ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, plog.SeverityNumberError, lr.SeverityNumber())
	got, err := DecodeDecision(lr)
	require.NoError(t, err)
	assert.Equal(t, decision(), got)

	// A producer that sends the document as a JSON string is read too.
	raw, err := json.Marshal(decision())
	require.NoError(t, err)
	lr.Body().SetStr(string(raw))
	got, err = DecodeDecision(lr)
	require.NoError(t, err)
	assert.Equal(t, decision(), got)
}

func TestDecodeDecisionRejects(t *testing.T) {
	lr := plog.NewLogRecord()
	_, err := DecodeDecision(lr)
	assert.True(t, errors.Is(err, ErrNotDecision))

	lr.SetEventName(release.EventNameDecision)
	lr.Body().SetInt(3)
	_, err = DecodeDecision(lr)
	fe, ok := release.AsFieldError(err)
	require.True(t, ok)
	assert.Equal(t, "body", fe.Field)

	lr.Body().SetStr(`{"decision_id":"d","action":"explode","verdict":"regression","cause":"endogenous","release":{"deployment.id":"x"}}`)
	_, err = DecodeDecision(lr)
	fe, ok = release.AsFieldError(err)
	require.True(t, ok)
	assert.Equal(t, "action", fe.Field)
	assert.Equal(t, release.RuleEnum, fe.Rule)
}

func TestDeploymentRoundTrip(t *testing.T) {
	pct := 10.0
	e := &release.Event{
		ID: "deploy-4711", Type: release.EventStarted, Source: "native",
		Time: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), ReceivedAt: time.Date(2026, 11, 24, 10, 0, 1, 0, time.UTC),
		Attributes: map[string]string{"service.name": "checkout", "service.namespace": "shop", "service.version": "v1.4.2",
			"deployment.environment.name": "production", "vcs.ref.head.revision": "9f2c1e7", "deployment.id": "deploy-4711"},
		Release: release.Context{PreviousVersion: "v1.4.1", Strategy: release.StrategyCanary, RolloutPercentage: &pct,
			FeatureFlags: []release.FeatureFlag{{Key: "new-pricing", Variant: "on"}}, Intent: "pricing", Risk: "high", Owner: "payments",
			Scope: map[string]string{"k8s.cluster.name": "eu-1"}},
	}
	ld := plog.NewLogs()
	AppendDeployment(ld, e, nil)
	rl := ld.ResourceLogs().At(0)
	got, err := DecodeDeployment(rl.Resource().Attributes(), rl.ScopeLogs().At(0).LogRecords().At(0))
	require.NoError(t, err)
	assert.Equal(t, e, got)

	_, err = DecodeDeployment(pcommon.NewMap(), plog.NewLogRecord())
	assert.ErrorIs(t, err, ErrNotDeployment)
}

// deploymentSentenceReference is the sentence as first written, with
// fmt and strings.Join, kept to hold the faster one to it.
func deploymentSentenceReference(e *release.Event, c *release.Context) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s in %s", release.QualifiedServiceNameOf(e.Attributes), e.Attributes[release.AttrServiceVersion], verb(e.Type), e.Attributes[release.AttrDeploymentEnvironment])
	if len(c.Scope) > 0 {
		fmt.Fprintf(&b, " (%s)", release.CanonicalScope(c.Scope))
	}
	var details []string
	if c.Strategy != "" {
		s := string(c.Strategy)
		if c.RolloutPercentage != nil {
			s += " at " + strconv.FormatFloat(*c.RolloutPercentage, 'f', -1, 64) + "%"
		}
		details = append(details, s)
	}
	if c.PreviousVersion != "" {
		details = append(details, "replacing "+c.PreviousVersion)
	}
	if c.Risk != "" {
		details = append(details, c.Risk+" risk")
	}
	if c.Owner != "" {
		details = append(details, "owner "+c.Owner)
	}
	if len(details) > 0 {
		b.WriteString(", " + strings.Join(details, ", "))
	}
	if c.Intent != "" {
		b.WriteString(": " + c.Intent)
	}
	return b.String()
}

// Every combination of the optional parts gives the reference's sentence.
func TestDeploymentSentenceMatchesReference(t *testing.T) {
	pct := 12.5
	for mask := range 1 << 7 {
		has := func(bit int) bool { return mask&(1<<bit) != 0 }
		e := &release.Event{Type: release.EventStarted, Attributes: map[string]string{
			release.AttrServiceName: "checkout", release.AttrServiceVersion: "v2", release.AttrDeploymentEnvironment: "production",
		}}
		if has(0) {
			e.Attributes[release.AttrServiceNamespace] = "shop"
		}
		c := &release.Context{}
		if has(1) {
			c.Scope = map[string]string{"k8s.cluster.name": "eu-1"}
		}
		if has(2) {
			c.Strategy = release.StrategyCanary
		}
		if has(3) {
			c.RolloutPercentage = &pct
		}
		if has(4) {
			c.PreviousVersion = "v1"
		}
		if has(5) {
			c.Risk, c.Owner = "high", "team-payments"
		}
		if has(6) {
			c.Intent = "move pricing"
			e.Type = release.EventFailed
		}
		assert.Equal(t, deploymentSentenceReference(e, c), deploymentSentence(e, c), "mask %b", mask)
	}
}
