package detect

import (
	"fmt"
	"strings"
	"time"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// rationale is the decision in one sentence a person understands at 3 a.m.
func rationale(ev *evaluation, v verdictNow, now time.Time, minEffect float64, minSamples int) string {
	r := ev.rel
	who := release.QualifiedServiceNameOf(r.Attributes) + " " + r.Version()
	against := "its pre-deploy baseline"
	if ev.ctrlLabel != "" {
		against = ev.ctrlLabel + " before the deploy"
	}
	if ev.mode == modeConcurrent {
		against = ev.ctrlLabel
		if against == "" {
			against = "the previous version"
		}
	}
	// What the reader needs to trust the comparison: a release seen only in
	// the telemetry, a control the deploy did not name, a control that
	// stopped serving.
	var context []string
	if r.Source == release.SourceObserved {
		context = append(context, "seen in the telemetry without a deploy event")
	}
	if ev.ctrlNote != "" {
		context = append(context, ev.ctrlNote)
	}
	if ev.switched {
		context = append(context, fmt.Sprintf("%s stopped serving during the rollout, so the comparison moved to its pre-deploy baseline", ev.ctrlLabel))
	}
	suffix := ""
	if len(context) > 0 {
		suffix = " (" + strings.Join(context, "; ") + ")"
	}
	return rationaleText(ev, v, now, minEffect, minSamples, who, against) + suffix
}

func rationaleText(ev *evaluation, v verdictNow, now time.Time, minEffect float64, minSamples int, who, against string) string {
	span := now.Sub(ev.warmEnd).Round(time.Second)
	switch v.verdict {
	case release.VerdictRegression:
		s := v.worst
		cand, ctrl := s.test.Rates()
		what := describe(s, cand, ctrl, against)
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s over %s (%d vs %d samples); %s confident it is worse.", who, what, span,
			int64(s.candSamples), int64(s.ctrlSamples), confidencePct(v.confidence))
		for _, e := range v.evidence {
			if e.Signal == s.name && len(e.Slices) > 0 {
				sl := e.Slices[0]
				fmt.Fprintf(&b, " Most affected: %s=%s (%s vs %s).", sl.Dimension, sl.Value, pct(sl.Candidate), pct(sl.Control))
			}
		}
		switch v.cause {
		case release.CauseExogenous:
			fmt.Fprintf(&b, " Not the release's own fault: %s.", v.causeNote)
		case release.CauseEndogenous:
			switch {
			case ev.mode == modeConcurrent:
				b.WriteString(" The release's own fault: the previous version, running at the same time, is not affected.")
			case v.causeNote != "":
				fmt.Fprintf(&b, " The release's own fault: %s.", v.causeNote)
			default:
				b.WriteString(" The release's own fault: other services in the environment are not affected.")
			}
		default:
			fmt.Fprintf(&b, " Cause unknown: %s.", v.causeNote)
		}
		fmt.Fprintf(&b, " Action: %s.", v.action)
		return b.String()
	case release.VerdictHealthy:
		var parts []string
		for _, e := range v.evidence {
			parts = append(parts, fmt.Sprintf("%s %s vs %s", strings.ReplaceAll(e.Signal, "_", " "), pct(e.Candidate), pct(e.Control)))
		}
		return fmt.Sprintf("%s is no worse than %s over %s: %s; %s confident any regression is under %.0f%%.",
			who, against, span, strings.Join(parts, ", "), confidencePct(v.confidence), 100*minEffect)
	}
	var cs, os float64
	if errSig := ev.signal(release.SignalErrorRate); errSig != nil {
		cs, os = errSig.candSamples, errSig.ctrlSamples
	}
	if v.action == release.ActionHold && cs >= float64(minSamples) && os >= float64(minSamples) {
		return fmt.Sprintf("%s: no conclusion against %s %s after the deploy (%d requests for the new version, %d for the control): not shown worse, nor shown within %.0f%% of it; holding for a person to decide.",
			who, against, now.Sub(ev.start).Round(time.Second), int64(cs), int64(os), 100*minEffect)
	}
	if v.action == release.ActionHold {
		return fmt.Sprintf("%s: too little traffic to decide %s after the deploy (%d requests for the new version, %d for %s; %d per side are needed); holding until evidence arrives.",
			who, now.Sub(ev.start).Round(time.Second), int64(cs), int64(os), against, minSamples)
	}
	return fmt.Sprintf("%s: no conclusion against %s after %s.", who, against, span)
}

// describe says what a signal shows, in words.
func describe(s *signalState, cand, ctrl float64, against string) string {
	switch {
	case s.name == release.SignalErrorRate:
		return fmt.Sprintf("fails %s of requests vs %s for %s", pct(cand), pct(ctrl), against)
	case s.name == release.SignalLogErrorRate:
		return fmt.Sprintf("logs errors in %s of records vs %s for %s", pct(cand), pct(ctrl), against)
	case s.kpi >= 0:
		kpi, _ := release.KPIName(s.name)
		return fmt.Sprintf("has %s at %.4g per request vs %.4g for %s", kpi, cand, ctrl, against)
	}
	q, _ := release.LatencyQuantile(s.name)
	return fmt.Sprintf("answers %s of requests slower than %s (%s's %s) vs %s for %s",
		pct(cand), s.thresholdDur.Round(time.Millisecond), against, q, pct(ctrl), against)
}
