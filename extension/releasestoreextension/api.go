package releasestoreextension

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// startAPI serves the API and the operator page from a goroutine; a serve
// error other than a shutdown is reported as a fatal status.
func (s *releaseStore) startAPI(ctx context.Context, host component.Host) error {
	ln, err := s.cfg.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("releasestore: listening on %s: %w", s.cfg.NetAddr.Endpoint, err)
	}
	s.server, err = s.cfg.ToServer(ctx, host.GetExtensions(), s.set.TelemetrySettings, s.apiHandler())
	if err != nil {
		_ = ln.Close()
		return err
	}
	s.logger.Info("Release store API listening", zap.String("endpoint", ln.Addr().String()))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	return nil
}

// stopAPI stops the server, if Start got as far as starting it.
func (s *releaseStore) stopAPI(ctx context.Context) error {
	if s.server == nil {
		return nil
	}
	err := s.server.Shutdown(ctx)
	s.wg.Wait()
	return err
}

// apiHandler serves the store's HTTP API and the operator page.
// State-changing requests must send Content-Type application/json (a
// cross-site HTML form cannot) and must not come from another site by their
// Origin and Sec-Fetch-Site headers, so the API is not open to cross-site
// request forgery even behind cookie auth.
func (s *releaseStore) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/releases", s.listReleases)
	mux.HandleFunc("GET /api/v1/releases/{id}", s.getRelease)
	mux.HandleFunc("POST /api/v1/releases/{id}/annotations", sameOrigin(s.postAnnotation))
	mux.HandleFunc("GET /api/v1/releases/{id}/series", s.getSeries)
	mux.HandleFunc("GET /api/v1/decisions", s.listDecisions)
	mux.HandleFunc("GET /api/v1/decisions/{id}", s.getDecision)
	mux.HandleFunc("GET /api/v1/fleet", s.getFleet)
	mux.HandleFunc("POST /api/v1/decisions/{id}/approve", sameOrigin(s.review(true)))
	mux.HandleFunc("POST /api/v1/decisions/{id}/dismiss", sameOrigin(s.review(false)))
	// The operator page (page.go). Links in chat and paging messages point
	// at /releases/{id}.
	mux.HandleFunc("GET /{$}", s.pageIndex)
	mux.HandleFunc("GET /releases/{id}", s.pageRelease)
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "path", "not_found", fmt.Sprintf("no API endpoint at %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// sameOrigin rejects state-changing requests a browser marks as coming
// from another site: Sec-Fetch-Site other than same-origin or none (typed
// or bookmarked), or an Origin whose host is not the request's host.
// Requests without these headers (curl, CI systems, targets) pass: they
// cannot carry a victim's browser credentials. Together with the
// application/json requirement this closes cross-site request forgery.
func sameOrigin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			writeError(w, http.StatusForbidden, "header Sec-Fetch-Site", "cross_site", fmt.Sprintf("cross-site request refused (Sec-Fetch-Site: %s)", site))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || u.Host == "" || !sameHost(u.Host, r) {
				writeError(w, http.StatusForbidden, "header Origin", "cross_site", fmt.Sprintf("cross-site request refused (Origin %q is not this server)", origin))
				return
			}
		}
		next(w, r)
	}
}

// sameHost compares an Origin's host with the host the request was sent to
// (or the one a reverse proxy says it was sent to).
func sameHost(host string, r *http.Request) bool {
	if strings.EqualFold(host, r.Host) {
		return true
	}
	fwd := r.Header.Get("X-Forwarded-Host")
	return fwd != "" && strings.EqualFold(host, strings.TrimSpace(strings.Split(fwd, ",")[0]))
}

type page struct{ limit, offset int }

func parsePage(r *http.Request) (page, *release.FieldError) {
	p := page{limit: defaultPageSize}
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return p, release.Fieldf("limit", release.RuleRange, "must be a whole number from 1 to %d", maxPageSize)
		}
		p.limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, release.Fieldf("offset", release.RuleRange, "must be a whole number from 0")
		}
		p.offset = n
	}
	return p, nil
}

func paginate[T any](items []T, p page) []T {
	if p.offset >= len(items) {
		return []T{}
	}
	return items[p.offset:min(len(items), p.offset+p.limit)]
}

func (s *releaseStore) listReleases(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ferr := parsePage(r)
	if ferr != nil {
		writeFieldError(w, http.StatusBadRequest, ferr)
		return
	}
	status := release.Status(q.Get("status"))
	if status != "" && !slices.Contains(release.Statuses, status) {
		writeFieldError(w, http.StatusBadRequest, release.Fieldf("status", release.RuleEnum, "%q is not a release status; one of %v", status, release.Statuses))
		return
	}
	service, namespace, env := q.Get("service"), q.Get("namespace"), q.Get("environment")
	s.mu.RLock()
	all := s.state.Releases(func(rel *release.Release) bool {
		return (service == "" || rel.Attributes[release.AttrServiceName] == service) &&
			(namespace == "" || rel.Attributes[release.AttrServiceNamespace] == namespace) &&
			(env == "" || rel.Attributes[release.AttrDeploymentEnvironment] == env) &&
			(status == "" || rel.Status == status)
	})
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"releases": paginate(all, p), "total": len(all)})
}

func (s *releaseStore) getRelease(w http.ResponseWriter, r *http.Request) {
	rel, ok := s.Release(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "id", "not_found", fmt.Sprintf("no release with id %q", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, rel)
}

func (s *releaseStore) getSeries(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := s.Release(id); !ok {
		writeError(w, http.StatusNotFound, "id", "not_found", fmt.Sprintf("no release with id %q", id))
		return
	}
	points := s.Series(id)
	if points == nil {
		points = []release.SeriesPoint{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"series": points})
}

func (s *releaseStore) listDecisions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ferr := parsePage(r)
	if ferr != nil {
		writeFieldError(w, http.StatusBadRequest, ferr)
		return
	}
	rid, service, env, action := q.Get("release"), q.Get("service"), q.Get("environment"), q.Get("action")
	s.mu.RLock()
	all := s.state.Decisions(func(d *release.Decision) bool {
		return (rid == "" || d.ReleaseID() == rid) &&
			(service == "" || d.Release[release.AttrServiceName] == service) &&
			(env == "" || d.Release[release.AttrDeploymentEnvironment] == env) &&
			(action == "" || string(d.Action) == action)
	})
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"decisions": paginate(all, p), "total": len(all)})
}

// decisionView is a decision with its audit trail.
type decisionView struct {
	Decision *release.Decision        `json:"decision"`
	Outcomes []*release.ActionOutcome `json:"outcomes"`
	Pending  bool                     `json:"pending_approval"`
	Review   *release.Review          `json:"review,omitempty"`
}

func (s *releaseStore) getDecision(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, outcomes, ok := s.Decision(id)
	if !ok {
		writeError(w, http.StatusNotFound, "id", "not_found", fmt.Sprintf("no decision with id %q", id))
		return
	}
	s.mu.RLock()
	pending := s.state.Pending(id)
	review, _ := s.state.Review(id)
	s.mu.RUnlock()
	if outcomes == nil {
		outcomes = []*release.ActionOutcome{}
	}
	writeJSON(w, http.StatusOK, decisionView{Decision: d, Outcomes: outcomes, Pending: pending, Review: review})
}

// reviewRequest is the body of POST /api/v1/decisions/{id}/approve and
// /dismiss.
type reviewRequest struct {
	Actor string `json:"actor"`
}

func (s *releaseStore) review(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !isJSON(r) {
			writeError(w, http.StatusUnsupportedMediaType, "header Content-Type", "media_type", "must be application/json")
			return
		}
		var req reviewRequest
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, "body", release.RuleSyntax, "is not a valid review: "+err.Error())
			return
		}
		if len(req.Actor) > 256 {
			writeError(w, http.StatusBadRequest, "actor", release.RuleTooLong, "is longer than 256 bytes")
			return
		}
		rv := release.Review{DecisionID: r.PathValue("id"), Approved: approve, At: time.Now().UTC()}
		s.setReviewer(r, req.Actor, &rv)
		if _, err := s.Review(r.Context(), rv); err != nil {
			if errors.Is(err, ErrNotPending) {
				writeError(w, http.StatusConflict, "id", "not_pending", err.Error())
				return
			}
			s.writeStoreError(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, rv)
	}
}

// identityAttributes are the client-info auth attributes that name the
// person behind a request, in the order they are looked for: "subject" is
// set by oidc (the token's sub, or its username_claim), "username" by
// basicauth. "raw" (the credential itself) is never read. bearertokenauth
// puts no auth data in the client info: it names nobody.
var identityAttributes = []string{"subject", "username"}

// setReviewer fills in who reviews: the identity the server's
// authenticator established, when it established one; otherwise the name
// the request body gave, labelled as such (with the authenticator's id
// when one let the request in without naming anyone).
func (s *releaseStore) setReviewer(r *http.Request, claimed string, rv *release.Review) {
	var authenticator string
	if s.cfg.Auth.HasValue() {
		authenticator = s.cfg.Auth.Get().Config.AuthenticatorID.String()
	}
	if authenticator != "" {
		if ad := client.FromContext(r.Context()).Auth; ad != nil {
			for _, attr := range identityAttributes {
				if v, ok := ad.GetAttribute(attr).(string); ok && strings.TrimSpace(v) != "" {
					rv.Actor, rv.ReviewerSource, rv.Authenticator, rv.IdentityAttribute = v, release.ReviewerAuthenticated, authenticator, attr
					return
				}
			}
		}
	}
	rv.Actor, rv.ReviewerSource, rv.Authenticator = claimed, release.ReviewerRequest, authenticator
}

// annotationRequest is the body of POST /api/v1/releases/{id}/annotations.
type annotationRequest struct {
	Label      string `json:"label"`
	Text       string `json:"text"`
	Link       string `json:"link"`
	Author     string `json:"author"`
	DecisionID string `json:"decision_id"`
}

func (s *releaseStore) postAnnotation(w http.ResponseWriter, r *http.Request) {
	if !isJSON(r) {
		writeError(w, http.StatusUnsupportedMediaType, "header Content-Type", "media_type", "must be application/json")
		return
	}
	var req annotationRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "body", "max_request_body_size", fmt.Sprintf("is larger than %d bytes", tooLarge.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "body", release.RuleSyntax, "is not a valid annotation: "+err.Error())
		return
	}
	a := release.Annotation{
		ID: newID("ann"), ReleaseID: r.PathValue("id"), DecisionID: req.DecisionID,
		Label: req.Label, Text: req.Text, Link: req.Link, Author: req.Author, CreatedAt: time.Now().UTC(),
	}
	rel, err := s.Annotate(r.Context(), a)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	stored := rel.Annotations[len(rel.Annotations)-1]
	writeJSON(w, http.StatusCreated, stored)
}

// writeStoreError maps store errors to HTTP answers.
func (s *releaseStore) writeStoreError(w http.ResponseWriter, err error) {
	if fe, ok := release.AsFieldError(err); ok {
		writeFieldError(w, http.StatusBadRequest, fe)
		return
	}
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "id", "not_found", err.Error())
	case errors.Is(err, ErrUnavailable):
		s.logger.Error("Release store could not persist a change", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "storage", "unavailable", "the release store cannot persist right now; nothing was stored, retry later")
	default:
		writeError(w, http.StatusInternalServerError, "", "internal", err.Error())
	}
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeFieldError(w http.ResponseWriter, status int, fe *release.FieldError) {
	writeJSON(w, status, fe)
}

func writeError(w http.ResponseWriter, status int, field, rule, msg string) {
	writeJSON(w, status, &release.FieldError{Field: field, Rule: rule, Message: msg})
}

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// getFleet answers the fleet's state: this replica, whether it reaches the
// shared store, and the replicas seen alive. 404 for a store of its own.
func (s *releaseStore) getFleet(w http.ResponseWriter, r *http.Request) {
	if s.shared == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "this release store is not shared (no shared: block in its configuration)"})
		return
	}
	writeJSON(w, http.StatusOK, s.fleetStatus(r.Context()))
}
