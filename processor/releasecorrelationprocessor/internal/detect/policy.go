package detect

import (
	"fmt"
	"path"
	"slices"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// PolicyRule maps a regression to an action. A rule matches when every field
// it sets matches; the first matching rule wins.
type PolicyRule struct {
	// Environments and Services are glob patterns (path.Match); empty
	// matches all. Services match "namespace/name" or "name".
	Environments []string `mapstructure:"environments"`
	Services     []string `mapstructure:"services"`
	// Causes the rule applies to; empty matches all.
	Causes []release.Cause `mapstructure:"causes"`
	// MinConfidence the regression must reach.
	MinConfidence float64 `mapstructure:"min_confidence"`
	// Action to take: notify, pause, flag_off or rollback.
	Action release.Action `mapstructure:"action"`
}

// DefaultPolicy is safe: in production, automated rollback only for a
// regression caused by the release itself at 0.99 confidence; anything else
// that regressed is notified. Elsewhere, endogenous regressions at 0.95 roll
// back.
func DefaultPolicy() []PolicyRule {
	return []PolicyRule{
		{Environments: []string{"production"}, Causes: []release.Cause{release.CauseEndogenous}, MinConfidence: 0.99, Action: release.ActionRollback},
		{Environments: []string{"production"}, MinConfidence: 0.95, Action: release.ActionNotify},
		{Causes: []release.Cause{release.CauseEndogenous}, MinConfidence: 0.95, Action: release.ActionRollback},
		{MinConfidence: 0.95, Action: release.ActionNotify},
	}
}

func (r PolicyRule) validate() error {
	switch r.Action {
	case release.ActionNotify, release.ActionPause, release.ActionFlagOff, release.ActionRollback:
	default:
		return fmt.Errorf("action: %q is not one of notify, pause, flag_off, rollback", r.Action)
	}
	if r.MinConfidence < 0 || r.MinConfidence >= 1 {
		return fmt.Errorf("min_confidence: %v is not in [0, 1)", r.MinConfidence)
	}
	for _, c := range r.Causes {
		if c != release.CauseEndogenous && c != release.CauseExogenous && c != release.CauseUnknown {
			return fmt.Errorf("causes: %q is not one of endogenous, exogenous, unknown", c)
		}
	}
	for _, p := range append(append([]string{}, r.Environments...), r.Services...) {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
	}
	return nil
}

// actionFor returns the action the policy prescribes for a regression, or
// ActionNone when no rule matches (the regression is below every
// confidence threshold).
func actionFor(rules []PolicyRule, sk release.ServiceKey, cause release.Cause, confidence float64) (release.Action, int) {
	qualified := sk.QualifiedName()
	for i, r := range rules {
		if !release.MatchAny(r.Environments, sk.Environment) || !release.MatchAny(r.Services, qualified, sk.Name) {
			continue
		}
		if len(r.Causes) > 0 && !slices.Contains(r.Causes, cause) {
			continue
		}
		if confidence < r.MinConfidence {
			continue
		}
		return r.Action, i
	}
	return release.ActionNone, -1
}

// severity orders actions for escalation.
func severity(a release.Action) int {
	switch a {
	case release.ActionNone:
		return 0
	case release.ActionHold:
		return 1
	case release.ActionNotify:
		return 2
	case release.ActionPause:
		return 3
	case release.ActionFlagOff:
		return 4
	case release.ActionRollback:
		return 5
	}
	return 0
}
