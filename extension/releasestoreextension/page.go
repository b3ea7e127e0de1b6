package releasestoreextension

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

// The operator page: server-rendered HTML (html/template escapes every
// value), a small stylesheet and script, and plots drawn as inline SVG.
// Everything ships in the binary; nothing is fetched from elsewhere.

//go:embed web/templates/*.html web/static/*
var webFS embed.FS

const (
	// indexPageSize is the number of releases per page of the index.
	indexPageSize = 50
	// decisionsPageSize bounds the decisions shown on a release page.
	decisionsPageSize = 50
)

// pageFuncs are the templates' functions.
var pageFuncs = template.FuncMap{
	"ts":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"num":    formatNum,
	"pct":    pct,
	"signed": func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) },
	"lower":  strings.ToLower,
}

var pageTemplates = template.Must(template.New("").Funcs(pageFuncs).ParseFS(webFS, "web/templates/*.html"))

// staticHandler serves web/static under /static/.
func staticHandler() http.Handler {
	sub, err := fs.Sub(webFS, "web/static")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	}))
}

// pageSecurityHeaders forbids anything but this server's own scripts and
// styles, and framing (the page has one-click buttons).
func pageSecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

func (s *releaseStore) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&b, name, data); err != nil {
		s.logger.Error("Rendering the operator page failed", zap.String("template", name), zap.Error(err))
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	pageSecurityHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// ---- index ----

type indexRow struct {
	ID, Service, Version, PreviousVersion, Environment, Strategy string
	Rollout                                                      string
	State, StateClass                                            string
	Status                                                       string
	Age                                                          string
	StartedAt                                                    time.Time
	Pending                                                      bool
	// Observed: seen in the telemetry, with no deploy event.
	Observed  bool
	Rationale string
}

type envGroup struct {
	Environment string
	Rows        []indexRow
}

type envCount struct {
	Name     string
	Count    int
	Selected bool
	Link     string
}

type indexData struct {
	Title        string
	Groups       []envGroup
	Environments []envCount
	AllLink      string
	Filter       string
	Total        int
	Page, Pages  int
	First, Last  int
	PrevLink     string
	NextLink     string
	Now          time.Time
}

func (s *releaseStore) pageIndex(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	env := q.Get("environment")
	pageNo := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			http.Error(w, "page: must be a whole number from 1", http.StatusBadRequest)
			return
		}
		pageNo = n
	}
	now := time.Now()

	s.mu.RLock()
	all := s.state.Releases(nil)
	counts := map[string]int{}
	shown := make([]*release.Release, 0, len(all))
	for _, rel := range all {
		e := rel.Attributes[release.AttrDeploymentEnvironment]
		counts[e]++
		if env == "" || e == env {
			shown = append(shown, rel)
		}
	}
	pages := max(1, (len(shown)+indexPageSize-1)/indexPageSize)
	if pageNo > pages {
		pageNo = pages
	}
	onPage := paginate(shown, page{limit: indexPageSize, offset: (pageNo - 1) * indexPageSize})
	// The latest decision of each release on the page: one pass over the
	// decisions, newest first, collecting nothing else.
	want := make(map[string]bool, len(onPage))
	for _, rel := range onPage {
		want[rel.ID] = true
	}
	latest := make(map[string]*release.Decision, len(onPage))
	pending := map[string]bool{}
	s.state.Decisions(func(d *release.Decision) bool {
		id := d.ReleaseID()
		if want[id] {
			if _, ok := latest[id]; !ok {
				latest[id] = d
			}
			if !pending[id] && s.state.Pending(d.DecisionID) {
				pending[id] = true
			}
		}
		return false
	})
	s.mu.RUnlock()

	data := indexData{Title: "Releases", Filter: env, Total: len(shown), Page: pageNo, Pages: pages, Now: now}
	if len(onPage) > 0 {
		data.First = (pageNo-1)*indexPageSize + 1
		data.Last = data.First + len(onPage) - 1
	}
	link := func(e string, p int) string {
		v := url.Values{}
		if e != "" {
			v.Set("environment", e)
		}
		if p > 1 {
			v.Set("page", strconv.Itoa(p))
		}
		if len(v) == 0 {
			return "/"
		}
		return "/?" + v.Encode()
	}
	if pageNo > 1 {
		data.PrevLink = link(env, pageNo-1)
	}
	if pageNo < pages {
		data.NextLink = link(env, pageNo+1)
	}
	data.AllLink = link("", 1)
	envs := make([]string, 0, len(counts))
	for e := range counts {
		envs = append(envs, e)
	}
	sort.Strings(envs)
	for _, e := range envs {
		data.Environments = append(data.Environments, envCount{Name: e, Count: counts[e], Selected: e == env, Link: link(e, 1)})
	}
	groupIdx := map[string]int{}
	for _, rel := range onPage {
		row := newIndexRow(rel, latest[rel.ID], pending[rel.ID], now)
		i, ok := groupIdx[row.Environment]
		if !ok {
			i = len(data.Groups)
			groupIdx[row.Environment] = i
			data.Groups = append(data.Groups, envGroup{Environment: row.Environment})
		}
		data.Groups[i].Rows = append(data.Groups[i].Rows, row)
	}
	s.render(w, http.StatusOK, "index.html", data)
}

func newIndexRow(rel *release.Release, d *release.Decision, pending bool, now time.Time) indexRow {
	state, class := releaseState(rel, d)
	row := indexRow{
		ID: rel.ID, Service: release.QualifiedServiceNameOf(rel.Attributes), Version: rel.Version(), PreviousVersion: rel.Release.PreviousVersion,
		Environment: rel.Attributes[release.AttrDeploymentEnvironment], Strategy: string(rel.Release.Strategy),
		State: state, StateClass: class, Status: string(rel.Status), Age: age(now.Sub(rel.StartedAt)),
		StartedAt: rel.StartedAt, Pending: pending, Observed: rel.Source == release.SourceObserved,
	}
	if p := rel.Release.RolloutPercentage; p != nil {
		row.Rollout = formatNum(*p) + "%"
	}
	if d != nil {
		row.Rationale = d.Rationale
	}
	return row
}

// releaseState is the operator's word for where a release stands, from its
// status and its latest decision, and a CSS class for it.
func releaseState(rel *release.Release, d *release.Decision) (string, string) {
	switch {
	case rel.Status == release.StatusRolledBack:
		return "rolled back", "rolledback"
	case d != nil && d.Verdict == release.VerdictRegression:
		return "regression", "regression"
	case d != nil && d.Action == release.ActionHold:
		return "held", "held"
	case d != nil && d.Verdict == release.VerdictHealthy:
		return "healthy", "healthy"
	case rel.Status == release.StatusInProgress:
		return "evaluating", "evaluating"
	}
	return strings.ReplaceAll(string(rel.Status), "_", " "), "neutral"
}

func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// pct shows a fraction as a percentage with one decimal; a value below 1
// never shows as 100% (a confidence is never certainty).
func pct(v float64) string {
	s := strconv.FormatFloat(v*100, 'f', 1, 64)
	if v < 1 && s == "100.0" {
		return ">99.9%"
	}
	return s + "%"
}

func formatNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// ---- release page ----

type kv struct{ Key, Value string }

type exemplar struct {
	ID   string
	Link template.URL // empty: no trace UI configured
}

type evidenceRow struct {
	release.Evidence
	Rate      bool // values are fractions, shown as percentages
	Exemplars []exemplar
	Slices    []string
}

type outcomeView struct {
	*release.ActionOutcome
}

type decisionRow struct {
	*release.Decision
	Evidence []evidenceRow
	Outcomes []outcomeView
	Pending  bool
	Review   *release.Review
}

type releaseData struct {
	Title       string
	Release     *release.Release
	Service     string
	State       string
	StateClass  string
	Rollout     string
	Context     []kv
	VCS         []kv
	Flags       []string
	Plots       []plot
	Decisions   []decisionRow
	MoreDecs    int
	Labels      []string
	Annotations []release.Annotation
	Now         time.Time
	Age         string
	DecLink     string
	// Authenticator is the id of the server's auth extension, if any:
	// reviews are recorded under the identity it establishes.
	Authenticator string
}

func (s *releaseStore) pageRelease(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.RLock()
	rel, ok := s.state.Release(id)
	var decs []*release.Decision
	var rows []decisionRow
	if ok {
		decs = s.state.Decisions(func(d *release.Decision) bool { return d.ReleaseID() == id })
		for _, d := range decs[:min(len(decs), decisionsPageSize)] {
			row := decisionRow{Decision: d, Pending: s.state.Pending(d.DecisionID)}
			row.Review, _ = s.state.Review(d.DecisionID)
			for _, o := range s.state.Outcomes(d.DecisionID) {
				row.Outcomes = append(row.Outcomes, outcomeView{o})
			}
			rows = append(rows, row)
		}
	}
	s.mu.RUnlock()
	if !ok {
		s.render(w, http.StatusNotFound, "notfound.html", map[string]string{"Title": "Not found", "ID": id})
		return
	}
	now := time.Now()
	var latest *release.Decision
	if len(decs) > 0 {
		latest = decs[0]
	}
	data := releaseData{
		Title: release.QualifiedServiceNameOf(rel.Attributes) + " " + rel.Version(), Release: rel, Service: release.QualifiedServiceNameOf(rel.Attributes),
		Labels: release.AnnotationLabels, Annotations: rel.Annotations, Now: now, Age: age(now.Sub(rel.StartedAt)),
		MoreDecs: len(decs) - len(rows),
		DecLink:  "/api/v1/decisions?release=" + url.QueryEscape(id),
	}
	if s.cfg.Auth.HasValue() {
		data.Authenticator = s.cfg.Auth.Get().Config.AuthenticatorID.String()
	}
	data.State, data.StateClass = releaseState(rel, latest)
	if p := rel.Release.RolloutPercentage; p != nil {
		data.Rollout = formatNum(*p) + "%"
	}
	add := func(list *[]kv, k, v string) {
		if v != "" {
			*list = append(*list, kv{k, v})
		}
	}
	add(&data.Context, "Version", rel.Version())
	add(&data.Context, "Previous version", rel.Release.PreviousVersion)
	add(&data.Context, "Environment", rel.Attributes[release.AttrDeploymentEnvironment])
	add(&data.Context, "Strategy", string(rel.Release.Strategy))
	add(&data.Context, "Rollout", data.Rollout)
	add(&data.Context, "Store status", string(rel.Status))
	add(&data.Context, "Owner", rel.Release.Owner)
	add(&data.Context, "Intent", rel.Release.Intent)
	add(&data.Context, "Risk", rel.Release.Risk)
	add(&data.Context, "Source", rel.Source)
	add(&data.Context, "Started", rel.StartedAt.UTC().Format(time.RFC3339))
	if rel.CompletedAt != nil {
		add(&data.Context, "Completed", rel.CompletedAt.UTC().Format(time.RFC3339))
	}
	if rel.EndedAt != nil {
		add(&data.Context, "Ended", rel.EndedAt.UTC().Format(time.RFC3339))
	}
	if scope := release.CanonicalScope(rel.Release.Scope); scope != "" {
		add(&data.Context, "Scope", scope)
	}
	attrKeys := make([]string, 0, len(rel.Attributes))
	for k := range rel.Attributes {
		if strings.HasPrefix(k, "vcs.") || strings.HasPrefix(k, "cicd.") {
			attrKeys = append(attrKeys, k)
		}
	}
	sort.Strings(attrKeys)
	for _, k := range attrKeys {
		add(&data.VCS, k, rel.Attributes[k])
	}
	for _, f := range rel.Release.FeatureFlags {
		data.Flags = append(data.Flags, f.Key+"="+f.Variant)
	}
	for i := range rows {
		rows[i].Evidence = s.evidenceRows(rows[i].Decision.Evidence)
	}
	data.Decisions = rows
	marks := make([]time.Time, 0, len(decs))
	for _, d := range decs {
		marks = append(marks, d.DecidedAt)
	}
	data.Plots = buildPlots(s.Series(id), rel.StartedAt, marks)
	s.render(w, http.StatusOK, "release.html", data)
}

func isRateSignal(name string) bool {
	_, kpi := release.KPIName(name)
	return !kpi
}

func (s *releaseStore) evidenceRows(ev []release.Evidence) []evidenceRow {
	out := make([]evidenceRow, 0, len(ev))
	for _, e := range ev {
		row := evidenceRow{Evidence: e, Rate: isRateSignal(e.Signal)}
		for _, id := range e.Exemplars {
			row.Exemplars = append(row.Exemplars, exemplar{ID: id, Link: s.traceURL(id)})
		}
		for _, sl := range e.Slices {
			row.Slices = append(row.Slices, fmt.Sprintf("%s=%s (%s vs %s)", sl.Dimension, sl.Value, formatNum(sl.Candidate), formatNum(sl.Control)))
		}
		out = append(out, row)
	}
	return out
}

// traceURL links a trace id through the configured trace-UI template, or
// returns "" when none is configured.
func (s *releaseStore) traceURL(traceID string) template.URL {
	t := s.cfg.TraceURLTemplate
	if t == "" || !(strings.HasPrefix(t, "http://") || strings.HasPrefix(t, "https://")) {
		return ""
	}
	return template.URL(strings.ReplaceAll(t, "{trace_id}", url.PathEscape(traceID))) //nolint:gosec // scheme checked above, id escaped
}

// ---- plots ----

const (
	plotW, plotH                  = 640, 200
	padL, padR, padTop, padBottom = 56, 12, 12, 28
	innerW, innerH                = plotW - padL - padR, plotH - padTop - padBottom
	maxPlotPoints                 = 720
	// maxPlotDots: beyond it points are drawn as lines only, to keep the
	// page small.
	maxPlotDots                    = 120
	plotCandidate, plotControlName = "candidate", "control"
)

type plotPoint struct {
	X, Y  string
	Title string
}

type plotMark struct {
	X     string
	Label string
	Class string
}

type plotTick struct {
	Y, Label string
}

type plot struct {
	Signal        string
	Title         string
	Note          string
	W, H          int
	CandidateLine string
	ControlLine   string
	Candidate     []plotPoint
	Control       []plotPoint
	Marks         []plotMark
	YTicks        []plotTick
	XStart, XEnd  string
	PadL, Bottom  int
	Right         int
	LastCand      string
	LastCtrl      string
}

// signalOrder puts error rate and p95 latency first, then the others by
// name (KPIs last).
func signalOrder(a, b string) bool {
	rank := func(s string) int {
		_, kpi := release.KPIName(s)
		switch {
		case s == release.SignalErrorRate:
			return 0
		case s == release.LatencySignal(0.95):
			return 1
		case kpi:
			return 3
		}
		return 2
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra < rb
	}
	return a < b
}

func signalTitle(s string) string {
	if q, ok := release.LatencyQuantile(s); ok {
		return q + " latency"
	}
	if kpi, ok := release.KPIName(s); ok {
		return "KPI " + kpi
	}
	switch s {
	case release.SignalErrorRate:
		return "Error rate"
	case release.SignalLogErrorRate:
		return "Log error rate"
	}
	return s
}

func signalNote(s string) string {
	if q, ok := release.LatencyQuantile(s); ok {
		return "share of requests slower than the control's " + q
	}
	if _, ok := release.KPIName(s); ok {
		return "per request"
	}
	return "share of requests"
}

func buildPlots(series []release.SeriesPoint, deployed time.Time, decisions []time.Time) []plot {
	if len(series) == 0 {
		return nil
	}
	if len(series) > maxPlotPoints {
		series = series[len(series)-maxPlotPoints:]
	}
	type pt struct {
		at         time.Time
		cand, ctrl float64
	}
	bySignal := map[string][]pt{}
	for _, p := range series {
		for _, sp := range p.Signals {
			bySignal[sp.Signal] = append(bySignal[sp.Signal], pt{p.At, sp.Candidate, sp.Control})
		}
	}
	names := make([]string, 0, len(bySignal))
	for n := range bySignal {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return signalOrder(names[i], names[j]) })

	t0, t1 := series[0].At, series[len(series)-1].At
	if !deployed.IsZero() && deployed.Before(t0) && t0.Sub(deployed) < 24*time.Hour {
		t0 = deployed
	}
	for _, d := range decisions {
		if d.After(t1) && d.Sub(t1) < time.Hour {
			t1 = d
		}
	}
	if !t1.After(t0) {
		t1 = t0.Add(time.Second)
	}
	span := float64(t1.Sub(t0))
	xOf := func(t time.Time) float64 { return padL + float64(innerW)*float64(t.Sub(t0))/span }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

	var out []plot
	for _, name := range names {
		pts := bySignal[name]
		rate := isRateSignal(name)
		show := func(v float64) string {
			if rate {
				return strconv.FormatFloat(v*100, 'f', 2, 64) + "%"
			}
			return formatNum(v)
		}
		hi := 0.0
		for _, p := range pts {
			hi = math.Max(hi, math.Max(p.cand, p.ctrl))
		}
		if hi <= 0 || math.IsNaN(hi) || math.IsInf(hi, 0) {
			hi = 1
		}
		hi *= 1.1
		yOf := func(v float64) float64 {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				v = 0
			}
			return padTop + float64(innerH)*(1-v/hi)
		}
		pl := plot{
			Signal: name, Title: signalTitle(name), Note: signalNote(name), W: plotW, H: plotH, PadL: padL, Bottom: padTop + innerH, Right: plotW - padR,
			XStart: t0.UTC().Format("15:04:05"), XEnd: t1.UTC().Format("15:04:05"),
			LastCand: show(pts[len(pts)-1].cand), LastCtrl: show(pts[len(pts)-1].ctrl),
		}
		var cl, ol strings.Builder
		for _, p := range pts {
			x := f(xOf(p.at))
			yc, yo := f(yOf(p.cand)), f(yOf(p.ctrl))
			fmt.Fprintf(&cl, "%s,%s ", x, yc)
			fmt.Fprintf(&ol, "%s,%s ", x, yo)
			at := p.at.UTC().Format("15:04:05")
			if len(pts) <= maxPlotDots {
				pl.Candidate = append(pl.Candidate, plotPoint{X: x, Y: yc, Title: at + " candidate " + show(p.cand)})
				pl.Control = append(pl.Control, plotPoint{X: x, Y: yo, Title: at + " control " + show(p.ctrl)})
			}
		}
		pl.CandidateLine, pl.ControlLine = strings.TrimSpace(cl.String()), strings.TrimSpace(ol.String())
		for i := 0; i <= 2; i++ {
			v := hi / 1.1 * float64(i) / 2
			pl.YTicks = append(pl.YTicks, plotTick{Y: f(yOf(v)), Label: show(v)})
		}
		if !deployed.Before(t0) && !deployed.After(t1) {
			pl.Marks = append(pl.Marks, plotMark{X: f(xOf(deployed)), Label: "deploy " + deployed.UTC().Format("15:04:05"), Class: "deploy"})
		}
		for _, d := range decisions {
			if !d.Before(t0) && !d.After(t1) {
				pl.Marks = append(pl.Marks, plotMark{X: f(xOf(d)), Label: "decision " + d.UTC().Format("15:04:05"), Class: "decision"})
			}
		}
		out = append(out, pl)
	}
	return out
}
