package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/httpsec"
)

// correlationKey is the context key of a request's correlation id (STYLE rule 4: the context
// carries the correlation id and nothing else).
type correlationKey struct{}

// correlationHeader is the response header that carries the request's correlation id, the same
// id as the correlationId of an error body and the correlation_id of the request's log line.
const correlationHeader = "X-Correlation-Id"

func withCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// correlationID returns the request's correlation id, or "" outside a request.
func correlationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// recorder is the ResponseWriter the handlers see: it remembers the status for the log line and
// the metrics, and what the handlers learned along the way (tenant, error category, a 5xx cause).
type recorder struct {
	http.ResponseWriter
	status   int
	tenant   crm.TenantID
	category string
	err      error
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observe runs next with a correlation id in the context, the X-Correlation-Id header and the
// security headers (httpsec.SetHeaders) set, turns a panic into a 500, then writes the request's
// one log line and records its metrics. The log line has ids only: never a body, a token or a
// property value.
func (s *Server) observe(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	start := time.Now()
	id := uuid.NewString()
	w.Header().Set(correlationHeader, id)
	httpsec.SetHeaders(w.Header())
	rec := &recorder{ResponseWriter: w}
	// Every request runs within its deadline (Config.RequestTimeout); its context also ends when
	// the client goes away.
	ctx, cancel := context.WithTimeout(withCorrelationID(r.Context(), id), s.cfg.RequestTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	r.Pattern = "" // a mux in front of the server may have set its own; the server's mux sets ours

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { // net/http's sentinel to abort a response: let it through
				panic(p)
			}
			s.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "http handler panicked",
				slog.String("correlation_id", id), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			if rec.status == 0 {
				writeError(rec, r, fmt.Errorf("panic: %v", p))
			}
		}
		s.finish(r, rec, start)
	}()
	next(rec, r)
}

// finish writes the request's log line and records its metrics.
func (s *Server) finish(r *http.Request, rec *recorder, start time.Time) {
	elapsed := time.Since(start)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	route := routeLabel(r.Pattern)
	method := methodLabel(r.Method)
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("correlation_id", correlationID(r.Context())),
	}
	if rec.tenant != "" {
		attrs = append(attrs, slog.String("tenant_id", string(rec.tenant)))
	}
	if rec.category != "" {
		attrs = append(attrs, slog.String("error_category", rec.category))
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
		if rec.err != nil {
			attrs = append(attrs, slog.String("error", rec.err.Error()))
		}
	}
	s.cfg.Logger.LogAttrs(r.Context(), level, "http request", attrs...)
	s.metrics.observe(method, route, status, elapsed)
}

// routeLabel is the path part of a mux pattern ("/crm/v3/objects/{objectType}"), or "unmatched"
// for a request no pattern served, so that metrics never get one series per URL.
func routeLabel(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// apiHandler is an endpoint that runs as an authenticated principal. It returns an error instead of
// writing one; the error is mapped by writeError.
type apiHandler func(w http.ResponseWriter, r *http.Request, p crm.Principal) error

// handle registers h at pattern behind bearer-token auth, the permission perm and the tenant's
// cap on requests in flight: a request without a valid token is a 401, one without perm is a 403,
// one of a tenant with Config.MaxTenantInFlight requests running already is a 429, and none of
// them reaches h, so nothing changes on a refused request. The slot a request takes is given back
// however h ends: an answer, an error, a panic, its deadline or its client gone.
func (s *Server) handle(pattern string, perm crm.Permission, h apiHandler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			refuseUnread(w, r, err)
			return
		}
		if rec, ok := w.(*recorder); ok {
			rec.tenant = p.Tenant
		}
		if err := requirePerms(p, perm); err != nil {
			refuseUnread(w, r, err)
			return
		}
		if !s.inFlight.acquire(p.Tenant) {
			refuseUnread(w, r, errTooManyInFlight(s.cfg.MaxTenantInFlight))
			return
		}
		defer s.inFlight.release(p.Tenant)
		if err := h(w, r, p); err != nil {
			writeError(w, r, err)
			return
		}
		if changesRecords[perm] && r.Method != http.MethodGet {
			s.drainSoon(r, p.Tenant)
		}
	})
}

// refuseUnread writes err as the answer to a request whose body was never read (a bad token, a
// missing permission, no such route). When the request has a body, the answer closes the
// connection: net/http would otherwise read (and discard) the body before answering, so that a
// client trickling its body, or never sending it, would hold the answer until the read timeout.
func refuseUnread(w http.ResponseWriter, r *http.Request, err error) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	writeError(w, r, err)
}

// changesRecords are the permissions of the routes whose success may have changed records: after
// one, the tenant's changes are drained through the workflow engine at once.
var changesRecords = map[crm.Permission]bool{crm.PermWrite: true, crm.PermDelete: true, crm.PermRestore: true, crm.PermPermanentDelete: true}

// drainSoon enqueues a drain of tenant t's record changes, beside the answer rather than before it.
// It is only a head start: the change marks are written with the records, and the worker's sweep
// drains them anyway, so a failure is logged at debug level and the answer stands.
func (s *Server) drainSoon(r *http.Request, t crm.TenantID) {
	if s.cfg.Tasks == nil {
		return
	}
	at := s.clock.Now()
	ctx, cancel := enqueueContext(r)
	go func() {
		defer cancel()
		if err := s.cfg.Tasks.EnqueueChangesDrain(ctx, t, at); err != nil {
			s.cfg.Logger.DebugContext(ctx, "enqueue a drain of the record changes failed: the worker's sweep drains them",
				slog.String("tenant_id", string(t)), slog.String("error", err.Error()))
		}
	}()
}

// requirePerms returns the 403 naming every permission of perms that p lacks, in the order of
// perms, or nil: one grant then gives the user all the request needs. Endpoints that need more
// than their route's permission (a bulk delete, say) call it themselves.
func requirePerms(p crm.Principal, perms ...crm.Permission) error {
	var missing []crm.Permission
	for _, perm := range perms {
		if !p.User.Permissions.Has(perm) {
			missing = append(missing, perm)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return errMissingScope(p, missing[0])
	}
	quoted := make([]string, len(missing))
	for i, m := range missing {
		quoted[i] = strconv.Quote(string(m))
	}
	return missingScope(p, missing, fmt.Sprintf("this request needs the %s and %s permissions, which your user does not have",
		strings.Join(quoted[:len(quoted)-1], ", "), quoted[len(quoted)-1]))
}

// authenticate resolves the request's bearer token. A missing or malformed header and an unknown
// token are 401s, and a token not accepted recently (knownTokens) from a client address past its
// limit of failures (Config.AuthFailureLimit) a 429; a store failure is returned as is (a 500 or
// a 503).
func (s *Server) authenticate(r *http.Request) (crm.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return crm.Principal{}, errAuth("missing bearer token: send the header \"Authorization: Bearer <token>\"")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return crm.Principal{}, errAuth("malformed Authorization header: use \"Authorization: Bearer <token>\"")
	}
	hash := sha256.Sum256([]byte(token))
	// A client over its limit of failures is refused before its token is looked up, unless this
	// process accepted that token recently: that is what stops a flood of guesses from costing
	// the store anything, while the other clients of that address go on.
	client := s.origin.Client(r)
	now := s.clock.Now()
	if until, refused := s.authLimit.refusedUntil(client, now); refused && !s.knownTokens.known(hash, now) {
		s.metrics.authRefused(authRefusedLimited)
		return crm.Principal{}, errAuthLimited(s.cfg.AuthFailureLimit, s.cfg.AuthFailureWindow, until, now)
	}
	p, err := s.store.Authenticate(r.Context(), token)
	if err != nil {
		if errors.Is(err, crm.ErrUnauthenticated) {
			s.knownTokens.refused(hash)
			s.authLimit.fail(client, s.clock.Now())
			s.metrics.authRefused(authRefusedInvalid)
			return crm.Principal{}, err
		}
		return crm.Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	s.knownTokens.accepted(hash, s.clock.Now())
	return p, nil
}
