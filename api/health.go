package api

import "net/http"

// healthJSON is the body of a passing probe.
type healthJSON struct {
	Status string `json:"status"`
}

// healthz serves GET /healthz: 200 whenever the process can answer. It needs no token.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, healthJSON{Status: "ok"})
}

// readyz serves GET /readyz: 200 when Config.Ready passes (or is nil), else 503 with its error as
// the reason. It needs no token.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(r.Context()); err != nil {
			writeError(w, r, errUnavailable(err))
			return
		}
	}
	writeJSON(w, http.StatusOK, healthJSON{Status: "ready"})
}
