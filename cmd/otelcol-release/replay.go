package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"gopkg.in/yaml.v3"

	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/releaselog"
	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor"
)

// newReplayCommand is `otelcol-release replay`: a recording through the
// same detection and policy code, on a virtual clock. rs are the
// collector's own resolver settings, which resolve --config.
func newReplayCommand(rs confmap.ResolverSettings) *cobra.Command {
	var telemetry, events, sets []string
	var configFile, processor, format, labels string
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Replay recorded telemetry and deploy events through detection, offline",
		Long: `Replay runs a recording through the releasecorrelation processor's detection and
policy, on a virtual clock that follows the recording, and prints when it would
have decided what.

Telemetry is OTLP JSON, one request per line: what the file exporter writes
(format: json). Deploy events are native deploy-event documents, one per line,
and the release.deployment records found in the telemetry's logs. Detection
settings come from --config and --set, so that two settings can be compared
on the same recording.

--config is resolved exactly as the collector resolves its own, with the same
providers: a path, or a file:, env:, yaml:, http: or https: URI, with
${env:VAR}, ${file:PATH} and ${VAR} expanded. It holds the processor's
settings alone, or a whole collector config; from a whole config replay takes
the releasecorrelation processor --processor names (e.g.
--processor releasecorrelation/edge), else the only one it has. A config with
several and no --processor is an error that lists their IDs, sorted, as is a
--processor the config does not have. --set applies after --config.

With --labels (JSON lines of
{"deployment.id": ..., "label": "regression|healthy|exogenous|hold"}), it also
reports detections, false actions and time to decision per label.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := replayConfig(cmd.Context(), rs, configFile, processor, sets)
			if err != nil {
				return err
			}
			in, stats, err := readRecording(telemetry, events)
			if err != nil {
				return err
			}
			res, err := releasecorrelationprocessor.Replay(cmd.Context(), cfg, in)
			if err != nil {
				return err
			}
			var lbl map[string]string
			if labels != "" {
				if lbl, err = readLabels(labels); err != nil {
					return err
				}
			}
			return printReplay(cmd.OutOrStdout(), format, in, res, stats, lbl)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&telemetry, "telemetry", nil, "OTLP JSON lines file (traces, metrics or logs); repeatable")
	f.StringArrayVar(&events, "events", nil, "native deploy events, one JSON document per line; repeatable")
	f.StringVar(&configFile, "config", "", "detection settings: the releasecorrelation processor's YAML, or a collector config; a path or a URI (file:, env:, yaml:, http:, https:), ${env:VAR} expanded as the collector does")
	f.StringVar(&processor, "processor", "", "with a collector config holding several releasecorrelation processors, the one to take, e.g. releasecorrelation/canary")
	f.StringArrayVar(&sets, "set", nil, "override a setting, e.g. --set detection::min_samples=50; repeatable")
	f.StringVar(&format, "format", "text", "output: text or json")
	f.StringVar(&labels, "labels", "", "labels of the releases, JSON lines {\"deployment.id\", \"label\"}")
	return cmd
}

// resolveReplayConfig resolves --config with the collector's resolver
// settings (its providers, converters and default scheme), taken from the
// collector's own command rather than listed again, so that a config
// resolves for replay as it does for `otelcol-release --config`.
func resolveReplayConfig(ctx context.Context, rs confmap.ResolverSettings, uri string) (*confmap.Conf, error) {
	rs.URIs = []string{uri}
	res, err := confmap.NewResolver(rs)
	if err != nil {
		return nil, fmt.Errorf("--config %s: %w", uri, err)
	}
	defer func() { _ = res.Shutdown(ctx) }()
	conf, err := res.Resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("--config %s: %w", uri, err)
	}
	return conf, nil
}

// pickProcessor returns the settings of the releasecorrelation processor a
// whole collector config holds: the one --processor names, or the only
// one. Several without --processor, none, or a name that is not there is
// an error that lists what the config has.
func pickProcessor(conf *confmap.Conf, uri, want string) (*confmap.Conf, string, error) {
	procType := releasecorrelationprocessor.NewFactory().Type()
	procs, err := conf.Sub("processors")
	if err != nil {
		return nil, "", fmt.Errorf("--config %s: processors: %w", uri, err)
	}
	var ids []string
	for key := range procs.ToStringMap() {
		var id component.ID
		if id.UnmarshalText([]byte(key)) == nil && id.Type() == procType {
			ids = append(ids, key)
		}
	}
	sort.Strings(ids)
	if want != "" {
		var wantID component.ID
		if err := wantID.UnmarshalText([]byte(want)); err != nil || wantID.Type() != procType {
			return nil, "", fmt.Errorf("--processor %q: must name a %s processor, e.g. %s/canary", want, procType, procType)
		}
		if !slices.Contains(ids, wantID.String()) {
			return nil, "", fmt.Errorf("--processor %s: %s has no such processor (it has %s)", want, uri, listOrNone(ids))
		}
		ids = []string{wantID.String()}
	}
	switch len(ids) {
	case 0:
		return nil, "", fmt.Errorf("--config %s: a collector config without a %s processor", uri, procType)
	case 1:
	default:
		return nil, "", fmt.Errorf("--config %s has %d %s processors (%s): choose one with --processor, e.g. --processor %s",
			uri, len(ids), procType, strings.Join(ids, ", "), ids[0])
	}
	sub, err := conf.Sub("processors::" + ids[0])
	if err != nil {
		return nil, "", fmt.Errorf("--config %s: processors::%s: %w", uri, ids[0], err)
	}
	return sub, ids[0], nil
}

func listOrNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

func replayConfig(ctx context.Context, rs confmap.ResolverSettings, uri, processor string, sets []string) (*releasecorrelationprocessor.Config, error) {
	cfg := releasecorrelationprocessor.NewFactory().CreateDefaultConfig().(*releasecorrelationprocessor.Config)
	switch {
	case uri != "":
		conf, err := resolveReplayConfig(ctx, rs, uri)
		if err != nil {
			return nil, err
		}
		// A whole collector config: take its releasecorrelation processor.
		if conf.IsSet("processors") || conf.IsSet("service") {
			if conf, _, err = pickProcessor(conf, uri, processor); err != nil {
				return nil, err
			}
		} else if processor != "" {
			return nil, fmt.Errorf("--processor %s: %s holds one processor's settings, not a collector config", processor, uri)
		}
		if err := conf.Unmarshal(cfg); err != nil {
			return nil, fmt.Errorf("--config %s: %w", uri, err)
		}
	case processor != "":
		return nil, fmt.Errorf("--processor %s: needs --config, a collector config", processor)
	}
	for _, s := range sets {
		key, value, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: want key=value, e.g. detection::min_samples=50", s)
		}
		var v any
		if err := yaml.Unmarshal([]byte(value), &v); err != nil {
			v = value
		}
		if err := confmap.NewFromStringMap(nest(strings.Split(key, "::"), v)).Unmarshal(cfg); err != nil {
			return nil, fmt.Errorf("--set %q: %w", s, err)
		}
	}
	if err := confmap.Validate(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func nest(path []string, v any) map[string]any {
	if len(path) == 1 {
		return map[string]any{path[0]: v}
	}
	return map[string]any{path[0]: nest(path[1:], v)}
}

type recordingStats struct {
	Spans, LogRecords, DataPoints, Events int
}

func eachLine(path string, fn func(line []byte, n int) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	// Recordings grow large; gzip'd files are read as they are.
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := fn(line, n); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	return sc.Err()
}

func readRecording(telemetry, events []string) (releasecorrelationprocessor.ReplayInput, recordingStats, error) {
	var in releasecorrelationprocessor.ReplayInput
	var st recordingStats
	gates := release.Gates{EnvironmentAliases: release.DefaultEnvironmentAliases()}
	for _, path := range events {
		err := eachLine(path, func(line []byte, _ int) error {
			evs, err := release.DecodeNative(line)
			if err != nil {
				return err
			}
			for i := range evs {
				if evs[i].Time.IsZero() {
					return errors.New("a recorded deploy event needs its time")
				}
				evs[i].ReceivedAt = evs[i].Time
				if err := gates.Normalize(&evs[i]); err != nil {
					return err
				}
			}
			in.Events = append(in.Events, evs...)
			return nil
		})
		if err != nil {
			return in, st, err
		}
	}
	for _, path := range telemetry {
		err := eachLine(path, func(line []byte, _ int) error {
			switch {
			case bytes.Contains(line, []byte(`"resourceSpans"`)):
				td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(line)
				if err != nil {
					return err
				}
				st.Spans += td.SpanCount()
				in.Traces = append(in.Traces, td)
			case bytes.Contains(line, []byte(`"resourceMetrics"`)):
				md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(line)
				if err != nil {
					return err
				}
				st.DataPoints += md.DataPointCount()
				in.Metrics = append(in.Metrics, md)
			case bytes.Contains(line, []byte(`"resourceLogs"`)):
				ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(line)
				if err != nil {
					return err
				}
				evs := takeDeployments(ld)
				in.Events = append(in.Events, evs...)
				st.LogRecords += ld.LogRecordCount()
				in.Logs = append(in.Logs, ld)
			default:
				return errors.New("not an OTLP JSON request (no resourceSpans, resourceMetrics or resourceLogs)")
			}
			return nil
		})
		if err != nil {
			return in, st, err
		}
	}
	st.Events = len(in.Events)
	return in, st, nil
}

// takeDeployments removes the release.* records from recorded logs (they are
// the distribution's own, not the application's) and returns the deploy
// events among them.
func takeDeployments(ld plog.Logs) []release.Event {
	var out []release.Event
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		res := rls.At(i).Resource().Attributes()
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sls.At(j).LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				if e, err := releaselog.DecodeDeployment(res, lr); err == nil {
					out = append(out, *e)
				}
				return strings.HasPrefix(lr.EventName(), "release.")
			})
		}
	}
	return out
}

// readLabels reads labels as JSON lines {"deployment.id", "label"}, or
// derives them from annotations exported from the store (the body of
// GET /api/v1/releases): false_alarm -> healthy; confirmed or root_cause ->
// regression; the latest such annotation of a release wins.
func readLabels(path string) (map[string]string, error) {
	out := map[string]string{}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var export struct {
		Releases []*release.Release `json:"releases"`
	}
	if json.Unmarshal(raw, &export) == nil && export.Releases != nil {
		for _, r := range export.Releases {
			for _, a := range r.Annotations {
				switch a.Label {
				case "false_alarm":
					out[r.ID] = "healthy"
				case "confirmed", "root_cause":
					out[r.ID] = "regression"
				}
			}
		}
		return out, nil
	}
	err = eachLine(path, func(line []byte, _ int) error {
		var l struct {
			ID    string `json:"deployment.id"`
			Label string `json:"label"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			return err
		}
		switch l.Label {
		case "regression", "healthy", "exogenous", "hold":
		default:
			return fmt.Errorf("label %q is not regression, healthy, exogenous or hold", l.Label)
		}
		out[l.ID] = l.Label
		return nil
	})
	return out, err
}

type labelRow struct {
	Label        string   `json:"label"`
	Releases     int      `json:"releases"`
	Detected     int      `json:"detected"`
	Rollbacks    int      `json:"rollbacks"`
	FalseActions int      `json:"false_actions"`
	TimeToDecide []string `json:"time_to_decision"`
	durations    []time.Duration
}

func printReplay(w io.Writer, format string, in releasecorrelationprocessor.ReplayInput, res *releasecorrelationprocessor.ReplayResult,
	st recordingStats, labels map[string]string) error {
	started := map[string]time.Time{}
	for _, e := range in.Events {
		id := e.DeploymentID()
		if t, ok := started[id]; !ok || e.Time.Before(t) {
			started[id] = e.Time
		}
	}
	rows := summarize(res, labels, started)
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"decisions": res.Decisions, "labels": rows, "recording": st,
			"start": res.Start, "end": res.End})
	}
	if format != "text" {
		return fmt.Errorf("--format %q: text or json", format)
	}
	fmt.Fprintf(w, "replayed %d spans, %d log records, %d data points and %d deploy events, %s to %s\n",
		st.Spans, st.LogRecords, st.DataPoints, st.Events, res.Start.Format(time.RFC3339), res.End.Format(time.RFC3339))
	if len(res.Decisions) == 0 {
		fmt.Fprintln(w, "no decisions")
	}
	for _, d := range res.Decisions {
		after := ""
		if t, ok := started[d.ReleaseID()]; ok {
			after = "+" + d.DecidedAt.Sub(t).Round(time.Second).String()
		}
		fmt.Fprintf(w, "%s %-7s %-22s %-8s %-12s %-10s %6.4f  %s\n", d.DecidedAt.Format(time.RFC3339), after, d.ReleaseID(),
			d.Action, d.Verdict, d.Cause, d.Confidence, d.Rationale)
	}
	if len(rows) > 0 {
		fmt.Fprintln(w, "\nlabel        releases  detected  rollbacks  false actions  median time to decision")
		for _, r := range rows {
			med := "-"
			if len(r.durations) > 0 {
				med = r.durations[len(r.durations)/2].String()
			}
			fmt.Fprintf(w, "%-12s %8d  %8d  %9d  %13d  %s\n", r.Label, r.Releases, r.Detected, r.Rollbacks, r.FalseActions, med)
		}
	}
	return nil
}

// summarize scores the decisions against the labels: a regression is
// detected by any regression verdict; a rollback of a healthy or exogenous
// release, or any action on a held one, is a false action.
func summarize(res *releasecorrelationprocessor.ReplayResult, labels map[string]string, started map[string]time.Time) []*labelRow {
	if len(labels) == 0 {
		return nil
	}
	byLabel := map[string]*labelRow{}
	first := map[string]*release.Decision{}
	rolled := map[string]bool{}
	acted := map[string]bool{}
	for _, d := range res.Decisions {
		id := d.ReleaseID()
		if d.Verdict == release.VerdictRegression {
			if _, ok := first[id]; !ok {
				first[id] = d
			}
			acted[id] = true
		}
		if d.Action == release.ActionRollback {
			rolled[id] = true
		}
	}
	for id, label := range labels {
		r := byLabel[label]
		if r == nil {
			r = &labelRow{Label: label}
			byLabel[label] = r
		}
		r.Releases++
		if d, ok := first[id]; ok {
			r.Detected++
			r.durations = append(r.durations, d.DecidedAt.Sub(started[id]).Round(time.Second))
		}
		if rolled[id] {
			r.Rollbacks++
		}
		if (label == "healthy" || label == "exogenous") && rolled[id] || label == "hold" && acted[id] {
			r.FalseActions++
		}
	}
	out := make([]*labelRow, 0, len(byLabel))
	for _, r := range byLabel {
		sort.Slice(r.durations, func(i, j int) bool { return r.durations[i] < r.durations[j] })
		for _, d := range r.durations {
			r.TimeToDecide = append(r.TimeToDecide, d.String())
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out
}
