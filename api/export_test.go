package api

import "net/http"

// RoutePattern returns the pattern of the route that serves r, as routes registered it, or ""
// when no route does.
func (s *Server) RoutePattern(r *http.Request) string {
	_, pattern := s.mux.Handler(r)
	return pattern
}
