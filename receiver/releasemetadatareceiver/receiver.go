package releasemetadatareceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/internal/jsonwrite"
	"github.com/otelcol-release/otelcol-release/internal/release"
	"github.com/otelcol-release/otelcol-release/internal/releaselog"
	"github.com/otelcol-release/otelcol-release/internal/storeroles"
	"github.com/otelcol-release/otelcol-release/receiver/releasemetadatareceiver/internal/source"
)

// Request outcomes and rejection reasons counted in
// otelcol.releasemetadata.requests.
const (
	outcomeAccepted  = "accepted"
	outcomeDuplicate = "duplicate"
	outcomeIgnored   = "ignored"
	outcomeRejected  = "rejected"

	reasonMethod       = "method_not_allowed"
	reasonMediaType    = "unsupported_media_type"
	reasonTooLarge     = "too_large"
	reasonUnauthorized = "unauthorized"
	reasonInvalid      = "invalid"
	reasonConflict     = "conflict"
	reasonUnavailable  = "unavailable"
)

// releaseStore is what the receiver asks of the release store: to record
// the deploy events it receives, and the annotations, decisions and
// outcomes to emit as log records (with an outcome's decision).
type releaseStore interface {
	storeroles.EventRecorder
	storeroles.ChangeSubscriber
	storeroles.DecisionReader
}

type metadataReceiver struct {
	cfg    *Config
	set    receiver.Settings
	next   consumer.Logs
	obs    *receiverhelper.ObsReport
	gates  release.Gates
	store  releaseStore
	unsub  func()
	server *http.Server
	wg     sync.WaitGroup
	m      *receiverMetrics
	now    func() time.Time
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) (*metadataReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: set.ID, Transport: "http", ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	m, err := newReceiverMetrics(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	aliases := release.DefaultEnvironmentAliases()
	for k, v := range cfg.EnvironmentAliases {
		aliases[strings.ToLower(strings.TrimSpace(k))] = strings.ToLower(strings.TrimSpace(v))
	}
	return &metadataReceiver{
		cfg: cfg, set: set, next: next, obs: obs, m: m,
		gates: release.Gates{MaxFutureSkew: cfg.MaxFutureSkew, EnvironmentAliases: aliases},
		now:   func() time.Time { return time.Now().UTC() },
	}, nil
}

func (r *metadataReceiver) Start(ctx context.Context, host component.Host) error {
	store, err := storeroles.Find[releaseStore](host, r.cfg.Store)
	if err != nil {
		return fmt.Errorf("releasemetadata: %w", err)
	}
	r.store = store
	r.unsub = store.Subscribe(storeroles.Subscriber{
		OnAnnotation: r.emitAnnotation,
		OnDecision:   r.emitDecision,
		OnOutcome:    r.emitOutcome,
	})

	ln, err := r.cfg.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("releasemetadata: listening on %s: %w", r.cfg.NetAddr.Endpoint, err)
	}
	r.server, err = r.cfg.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings, r.handler())
	if err != nil {
		_ = ln.Close()
		return err
	}
	r.set.Logger.Info("Release-metadata receiver listening", zap.String("endpoint", ln.Addr().String()),
		zap.Strings("sources", r.enabledPaths()))
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := r.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	return nil
}

func (r *metadataReceiver) Shutdown(ctx context.Context) error {
	var err error
	if r.server != nil {
		err = r.server.Shutdown(ctx)
		r.wg.Wait()
	}
	if r.unsub != nil {
		r.unsub()
	}
	return err
}

func (r *metadataReceiver) enabledPaths() []string {
	var paths []string
	for _, def := range source.Definitions() {
		if r.cfg.Sources[def.Name].enabled() {
			paths = append(paths, def.Name+"="+def.Path)
		}
	}
	return paths
}

func (r *metadataReceiver) handler() http.Handler {
	mux := http.NewServeMux()
	for _, def := range source.Definitions() {
		sc := r.cfg.Sources[def.Name]
		if !sc.enabled() {
			continue
		}
		var secret []byte
		if sc.Secret != "" {
			secret = []byte(string(sc.Secret))
		}
		mux.Handle(def.Path, &sourceHandler{r: r, def: def, src: def.New(), secret: secret})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		writeJSON(w, http.StatusNotFound, reply{Status: outcomeRejected, Field: "path", Rule: "not_found",
			Error: fmt.Sprintf("no event source at %s; enabled: %s", req.URL.Path, strings.Join(r.enabledPaths(), ", "))})
	})
	return mux
}

// sourceHandler serves one source's path.
type sourceHandler struct {
	r      *metadataReceiver
	def    source.Definition
	src    source.Source
	secret []byte
}

// reply is the JSON body of every answer to a delivery.
type reply struct {
	Status string       `json:"status"`
	Reason string       `json:"reason,omitempty"`
	Events []replyEvent `json:"events,omitempty"`
	Error  string       `json:"error,omitempty"`
	Field  string       `json:"field,omitempty"`
	Rule   string       `json:"rule,omitempty"`
	// Warnings name the optional fields dropped because they could not be
	// read; the events were kept without them.
	Warnings []*release.FieldError `json:"warnings,omitempty"`
}

type replyEvent struct {
	ID           string         `json:"id"`
	DeploymentID string         `json:"deployment_id"`
	Outcome      string         `json:"outcome"`
	Status       release.Status `json:"status,omitempty"`
}

func (h *sourceHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	code, rep, reason := h.serve(req)
	for _, w := range rep.Warnings {
		h.r.m.droppedField(h.def.Name, w.Rule)
		h.r.set.Logger.Debug("Optional field dropped from a deploy event", zap.String("source", h.def.Name),
			zap.String("field", w.Field), zap.String("rule", w.Rule), zap.String("error", w.Message))
	}
	outcome := rep.Status
	if code >= 400 {
		outcome = outcomeRejected
		h.r.set.Logger.Debug("Deploy event rejected", zap.String("source", h.def.Name),
			zap.Int("status", code), zap.String("reason", reason), zap.String("error", rep.Error))
	}
	h.r.m.request(h.def.Name, outcome, reason)
	if code == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	writeReply(w, code, &rep)
}

// writeReply answers with rep as JSON. The reply to every delivery is
// written without reflection: the bytes json.Encoder writes for it.
func writeReply(w http.ResponseWriter, status int, rep *reply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(appendReply(make([]byte, 0, 256), rep))
}

// appendReply appends rep as json.Encoder encodes it, newline included.
func appendReply(b []byte, rep *reply) []byte {
	b = jsonwrite.String(append(b, `{"status":`...), rep.Status)
	b = jsonwrite.OmitEmpty(b, "reason", rep.Reason)
	if len(rep.Events) > 0 {
		b = jsonwrite.Array(append(b, `,"events":`...), len(rep.Events), func(b []byte, i int) []byte {
			e := &rep.Events[i]
			b = jsonwrite.String(append(b, `{"id":`...), e.ID)
			b = jsonwrite.String(append(b, `,"deployment_id":`...), e.DeploymentID)
			b = jsonwrite.String(append(b, `,"outcome":`...), e.Outcome)
			return append(jsonwrite.OmitEmpty(b, "status", string(e.Status)), '}')
		})
	}
	b = jsonwrite.OmitEmpty(b, "error", rep.Error)
	b = jsonwrite.OmitEmpty(b, "field", rep.Field)
	b = jsonwrite.OmitEmpty(b, "rule", rep.Rule)
	if len(rep.Warnings) > 0 {
		b = jsonwrite.Array(append(b, `,"warnings":`...), len(rep.Warnings), func(b []byte, i int) []byte {
			fe := rep.Warnings[i]
			if fe == nil {
				return append(b, "null"...)
			}
			b = jsonwrite.String(append(b, `{"field":`...), fe.Field)
			b = jsonwrite.String(append(b, `,"rule":`...), fe.Rule)
			return append(jsonwrite.String(append(b, `,"error":`...), fe.Message), '}')
		})
	}
	return append(b, "}\n"...)
}

func rejected(reason string, fe *release.FieldError) (string, reply) {
	return reason, reply{Status: outcomeRejected, Error: fe.Message, Field: fe.Field, Rule: fe.Rule}
}

// serve handles one delivery and returns the HTTP status, the reply and,
// for a rejection, its reason.
func (h *sourceHandler) serve(req *http.Request) (int, reply, string) {
	if req.Method != http.MethodPost {
		reason, rep := rejected(reasonMethod, release.Fieldf("method", "method", "%s is not allowed; deliveries are POSTed", req.Method))
		return http.StatusMethodNotAllowed, rep, reason
	}
	if mt, ok := h.mediaTypeAllowed(req.Header.Get("Content-Type")); !ok {
		reason, rep := rejected(reasonMediaType, release.Fieldf("header Content-Type", "media_type",
			"%q is not accepted here; send one of %s", mt, strings.Join(h.def.MediaTypes, ", ")))
		return http.StatusUnsupportedMediaType, rep, reason
	}
	if fe := source.CheckCharset(req.Header.Get("Content-Type")); fe != nil {
		reason, rep := rejected(reasonInvalid, fe)
		return http.StatusBadRequest, rep, reason
	}
	body, err := readBody(req)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			reason, rep := rejected(reasonTooLarge, release.Fieldf("body", "max_request_body_size",
				"is larger than %d bytes", tooLarge.Limit))
			return http.StatusRequestEntityTooLarge, rep, reason
		}
		reason, rep := rejected(reasonInvalid, release.Fieldf("body", release.RuleSyntax, "could not be read: %v", err))
		return http.StatusBadRequest, rep, reason
	}
	d := &source.Delivery{Header: req.Header, Body: body, ReceivedAt: h.r.now()}
	if h.secret != nil {
		if err := h.src.Authenticate(d, h.secret); err != nil {
			reason, rep := rejected(reasonUnauthorized, release.Fieldf("authentication", "signature", "%v", err))
			return http.StatusUnauthorized, rep, reason
		}
	}
	// The door is checked after authentication, so that an unsigned
	// sender learns nothing about the body rules.
	if fe := source.CheckBody(body); fe != nil {
		reason, rep := rejected(reasonInvalid, fe)
		return http.StatusBadRequest, rep, reason
	}
	events, err := h.src.Parse(d)
	var ign *source.Ignored
	switch {
	case errors.As(err, &ign):
		return http.StatusOK, reply{Status: outcomeIgnored, Reason: ign.Reason, Warnings: d.Warnings}, ""
	case err != nil:
		return h.invalid(err)
	case len(events) == 0:
		return http.StatusOK, reply{Status: outcomeIgnored, Reason: "the delivery holds no deploy event", Warnings: d.Warnings}, ""
	}
	for i := range events {
		if events[i].ReceivedAt.IsZero() {
			events[i].ReceivedAt = d.ReceivedAt
		}
		events[i].Source = h.def.Name
		if err := h.r.gates.Normalize(&events[i]); err != nil {
			// In a multi-event delivery, [i] counts the deploy events it
			// holds (members that are not deploy events are skipped), so
			// the message also names the event by id.
			if fe, ok := release.AsFieldError(err); ok && len(events) > 1 {
				fe.Field = fmt.Sprintf("[%d].%s", i, fe.Field)
				fe.Message = fmt.Sprintf("%s (event id %q)", fe.Message, events[i].ID)
			}
			return h.invalid(err)
		}
	}
	code, rep, reason := h.record(req.Context(), events)
	if code < 400 {
		rep.Warnings = d.Warnings
	}
	return code, rep, reason
}

// readBody reads the whole body, into a buffer of its declared length
// when it has one (io.ReadAll starts at 512 bytes and grows).
func readBody(req *http.Request) ([]byte, error) {
	if req.ContentLength <= 0 {
		return io.ReadAll(req.Body)
	}
	// The maximum body size is enforced by the reader, whatever the
	// declared length; bytes.MinRead spare keeps the last read from growing
	// the buffer. The declared length only sizes it, within reason.
	buf := bytes.NewBuffer(make([]byte, 0, min(req.ContentLength, 1<<20)+bytes.MinRead))
	_, err := buf.ReadFrom(req.Body)
	return buf.Bytes(), err
}

func (h *sourceHandler) invalid(err error) (int, reply, string) {
	fe, ok := release.AsFieldError(err)
	if !ok {
		fe = release.Fieldf("body", release.RuleSyntax, "%v", err)
	}
	reason, rep := rejected(reasonInvalid, fe)
	return http.StatusBadRequest, rep, reason
}

// record stores the events and emits the accepted ones as log records.
func (h *sourceHandler) record(ctx context.Context, events []release.Event) (int, reply, string) {
	ctx = h.r.obs.StartLogsOp(ctx)
	outcomes, err := h.r.store.Record(ctx, events)
	if err != nil {
		h.r.obs.EndLogsOp(ctx, h.def.Name, 0, err)
		if fe, ok := release.AsFieldError(err); ok {
			reason, rep := rejected(reasonConflict, fe)
			return http.StatusConflict, rep, reason
		}
		h.r.set.Logger.Error("Release store could not persist deploy events; answering 503 so the sender retries", zap.Error(err))
		reason, rep := rejected(reasonUnavailable, release.Fieldf("storage", "unavailable",
			"the release store cannot persist right now; nothing was stored, retry later"))
		return http.StatusServiceUnavailable, rep, reason
	}
	ld := plog.NewLogs()
	rep := reply{Status: outcomeDuplicate}
	for i, o := range outcomes {
		e := &events[i]
		re := replyEvent{ID: e.ID, DeploymentID: e.DeploymentID(), Outcome: outcomeDuplicate}
		if !o.Duplicate {
			re.Outcome = outcomeAccepted
			rep.Status = outcomeAccepted
			if o.Release != nil {
				re.Status = o.Release.Status
			}
			releaselog.AppendDeployment(ld, e, o.Release)
		}
		rep.Events = append(rep.Events, re)
	}
	n := ld.LogRecordCount()
	var consumeErr error
	if n > 0 {
		// The events are already persisted and acknowledged below: a
		// pipeline failure loses the log record, not the release.
		consumeErr = h.r.next.ConsumeLogs(ctx, ld)
		if consumeErr != nil {
			h.r.set.Logger.Warn("Deploy event stored but its log record was refused downstream", zap.Error(consumeErr))
		}
	}
	h.r.obs.EndLogsOp(ctx, h.def.Name, n, consumeErr)
	if rep.Status == outcomeDuplicate {
		return http.StatusOK, rep, ""
	}
	return http.StatusAccepted, rep, ""
}

func (h *sourceHandler) mediaTypeAllowed(contentType string) (string, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return contentType, false
	}
	return mt, slices.Contains(h.def.MediaTypes, mt)
}

func (r *metadataReceiver) emitAnnotation(a release.Annotation, rel *release.Release) {
	ld := plog.NewLogs()
	releaselog.AppendAnnotation(ld, a, rel)
	r.emit(ld, "annotation")
}

func (r *metadataReceiver) emitDecision(d *release.Decision) {
	ld := plog.NewLogs()
	if err := releaselog.AppendDecision(ld, d); err != nil {
		r.set.Logger.Error("Could not encode a decision as a log record", zap.String("decision_id", d.DecisionID), zap.Error(err))
		return
	}
	r.emit(ld, "decision")
}

func (r *metadataReceiver) emitOutcome(o release.ActionOutcome) {
	d, _, _ := r.store.Decision(o.DecisionID)
	ld := plog.NewLogs()
	if err := releaselog.AppendOutcome(ld, o, d); err != nil {
		r.set.Logger.Error("Could not encode an action outcome as a log record", zap.String("outcome_id", o.ID), zap.Error(err))
		return
	}
	r.emit(ld, "action")
}

func (r *metadataReceiver) emit(ld plog.Logs, format string) {
	ctx := r.obs.StartLogsOp(context.Background())
	err := r.next.ConsumeLogs(ctx, ld)
	r.obs.EndLogsOp(ctx, format, ld.LogRecordCount(), err)
	if err != nil {
		r.set.Logger.Warn("A release "+format+" log record was refused downstream", zap.Error(err))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
