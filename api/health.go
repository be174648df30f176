package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// readyTimeout bounds the readiness probe, so that GET /readyz answers within 2 s even when the
// store hangs (a Redis stopped with SIGSTOP) and the probe ignores its context.
const readyTimeout = time.Second

// errReadyTimeout is the reason of a readiness probe that did not return within readyTimeout.
var errReadyTimeout = errors.New("the readiness probe did not answer in time")

// healthJSON is the body of a passing probe.
type healthJSON struct {
	Status string `json:"status"`
}

// healthz serves GET /healthz: 200 whenever the process can answer. It needs no token.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, healthJSON{Status: "ok"})
}

// readyz serves GET /readyz: 200 when Config.Ready passes (or is nil) within readyTimeout, else 503
// naming what is unavailable: the probe's error text, or "redis unavailable" when it did not answer
// in time or failed with crm.ErrStoreUnavailable (whose text names internals). It needs no token.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		if err := s.ready(r.Context()); err != nil {
			reason := err.Error()
			if errors.Is(err, errReadyTimeout) || errors.Is(err, crm.ErrStoreUnavailable) {
				reason = "redis unavailable"
			}
			s.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "not ready",
				slog.String("correlation_id", correlationID(r.Context())), slog.String("error", err.Error()))
			writeError(w, r, errUnavailable(reason))
			return
		}
	}
	writeJSON(w, http.StatusOK, healthJSON{Status: "ready"})
}

// ready runs Config.Ready with a deadline of readyTimeout, and returns errReadyTimeout at the
// deadline even if the probe goes on (it then ends in its own time, its answer dropped).
func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	done := make(chan error, 1)
	go func() {
		defer cancel()
		done <- s.cfg.Ready(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errReadyTimeout
	}
}
