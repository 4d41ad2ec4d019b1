package server

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/herald"
)

// Runs is what the server needs to show, acknowledge and cancel runs.
type Runs interface {
	GetRun(ctx context.Context, runID string) (*herald.Run, error)
	AckRun(ctx context.Context, runID, by string, now time.Time) (*herald.Run, error)
	CancelRun(ctx context.Context, runID, reason string, now time.Time) (*herald.Run, error)
}

// AckVerifier checks acknowledgment link tokens.
type AckVerifier interface {
	Verify(token string, now time.Time) (string, error)
}

func (s *Server) runRoutes() {
	s.route("GET /v1/runs/{id}", true, s.getRun)
	s.route("POST /v1/runs/{id}/ack", true, s.ackRun)
	s.route("DELETE /v1/runs/{id}", true, s.cancelRun)
	// Acknowledgment links carry their own signature: no token needed.
	// GET only shows a confirmation page, because mail scanners and chat
	// previews fetch links; the button POSTs.
	s.mux.HandleFunc("GET /ack/{token}", s.ackPage)
	s.mux.HandleFunc("POST /ack/{token}", s.ackLink)
}

func runID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !herald.ValidID(id) {
		return "", herald.Errorf(herald.EINVALID, "%q is not a Herald run id", id)
	}
	return id, nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	run, err := s.Runs.GetRun(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) ackRun(w http.ResponseWriter, r *http.Request) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	var body struct {
		By string `json:"by"`
	}
	if b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10)); len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			return herald.Errorf(herald.EINVALID, "body: want {\"by\": \"who\"}: %v", err)
		}
	}
	if body.By == "" {
		body.By = "api"
	}
	run, err := s.Runs.AckRun(r.Context(), id, body.By, s.Now())
	if err != nil {
		return err
	}
	s.Engine.Wake()
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	run, err := s.Runs.CancelRun(r.Context(), id, "cancelled through the API", s.Now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

var ackTemplate = template.Must(template.New("ack").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Herald — acknowledge</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
button{font-size:1.1rem;padding:.6rem 1.4rem}</style></head><body>
{{if .Error}}<h1>Cannot acknowledge</h1><p>{{.Error}}</p>
{{else if .Done}}<h1>Acknowledged</h1><p>Thank you{{if .By}}, {{.By}}{{end}}. Escalation for this alert has stopped.</p>
{{else}}<h1>Acknowledge this alert?</h1><p>Escalation stops once somebody acknowledges.</p>
<form method="post"><label>Your name <input name="by" autocomplete="name"></label>
<p><button type="submit">Acknowledge</button></p></form>{{end}}
</body></html>`))

type ackView struct {
	Error string
	Done  bool
	By    string
}

func (s *Server) ackPage(w http.ResponseWriter, r *http.Request) {
	v := ackView{}
	status := http.StatusOK
	if _, err := s.verifyAck(r); err != nil {
		v.Error, status = err.Error(), http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	ackTemplate.Execute(w, v)
}

func (s *Server) ackLink(w http.ResponseWriter, r *http.Request) {
	v := ackView{}
	status := http.StatusOK
	id, err := s.verifyAck(r)
	if err == nil {
		by := strings.TrimSpace(r.PostFormValue("by"))
		if by == "" {
			by = "link"
		}
		var run *herald.Run
		run, err = s.Runs.AckRun(r.Context(), id, by, s.Now())
		if err == nil {
			s.Engine.Wake()
			v.Done, v.By = true, run.AckedBy
		}
	}
	if err != nil {
		v.Error, status = herald.ErrorMessage(err), http.StatusBadRequest
		if errors.Is(err, errNoAcks) || herald.ErrorCode(err) == herald.EINVALID {
			v.Error = err.Error()
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	ackTemplate.Execute(w, v)
}

var errNoAcks = errors.New("acknowledgment links are not enabled on this server")

func (s *Server) verifyAck(r *http.Request) (string, error) {
	if s.Acks == nil {
		return "", errNoAcks
	}
	id, err := s.Acks.Verify(r.PathValue("token"), s.Now())
	if err != nil {
		return "", &herald.Error{Code: herald.EINVALID, Message: err.Error()}
	}
	return id, nil
}
