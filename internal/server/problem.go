package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/herald-notify/herald/internal/herald"
)

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Code is Herald's stable error code (herald.EINVALID, ...).
	Code string `json:"code"`
	// Errors lists per-item or per-field errors.
	Errors []herald.ItemError `json:"errors,omitempty"`
}

// statusOf maps error codes to HTTP statuses: the one table of it.
var statusOf = map[string]int{
	herald.EINVALID:      http.StatusBadRequest,
	herald.ENOTFOUND:     http.StatusNotFound,
	herald.ECONFLICT:     http.StatusConflict,
	herald.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	herald.EUNAVAILABLE:  http.StatusServiceUnavailable,
	herald.EUNAUTHORIZED: http.StatusUnauthorized,
	herald.EINTERNAL:     http.StatusInternalServerError,
}

// problemType is the documentation link of an error code.
func problemType(code string) string {
	return "https://herald.dev/problems/" + code
}

// writeError renders err as a problem detail. Internal errors are logged
// and shown without their text, which may hold internals.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := herald.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	p := Problem{
		Type:   problemType(code),
		Title:  http.StatusText(status),
		Status: status,
		Detail: herald.ErrorMessage(err),
		Code:   code,
	}
	var he *herald.Error
	if errors.As(err, &he) {
		p.Errors = he.Details
	}
	if code == herald.EINTERNAL {
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
