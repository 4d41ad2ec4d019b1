// Package server is Herald's HTTP API: events in, the ledger out, and the
// operational endpoints. Handlers return errors; one function renders
// them as RFC 9457 problem details.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/cloudevents"
	"github.com/herald-notify/herald/internal/engine"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// Engine is what the server needs of the workflow engine.
type Engine interface {
	Accept(ctx context.Context, events []herald.Event) ([]engine.Accepted, error)
	Wake()
}

// Ledger is what the server reads and changes in the store.
type Ledger interface {
	GetEvent(ctx context.Context, id string) (*store.EventView, error)
	GetMessage(ctx context.Context, id string) (*herald.Message, []*herald.Attempt, error)
	ListMessages(ctx context.Context, f store.MessageFilter) ([]*herald.Message, string, error)
	RetryMessage(ctx context.Context, id string, extra int, now time.Time) (*herald.Message, error)
	Ping(ctx context.Context) error
}

// Settings are the parts of the configuration the server reads on every
// request, so a reload applies at once.
type Settings struct {
	Token       string
	MaxBody     int64
	MaxBatch    int
	MaxAttempts int
}

// Options configures a Server.
type Options struct {
	Engine Engine
	Ledger Ledger
	Runs   Runs
	// Acks verifies acknowledgment links (nil: links are refused).
	Acks    AckVerifier
	Logger  *slog.Logger
	Metrics http.Handler
	// Settings returns the current settings.
	Settings func() Settings
	// Reload reloads the configuration from disk.
	Reload func(ctx context.Context) (version string, err error)
	// Ready reports whether the server should receive traffic.
	Ready func(ctx context.Context) error
	// Cluster, when set, returns what /readyz shows about the nodes
	// sharing the store (this node's configuration version against the
	// cluster's); a mismatch is reported, not made a failure, so that a
	// rolling configuration change does not drain every node.
	Cluster func() any
	// Channels returns the channels' delivery state (their circuits) for
	// GET /v1/channels.
	Channels func() any
	Now      func() time.Time
}

// Server is the HTTP API.
type Server struct {
	Options
	logger *slog.Logger
	mux    *http.ServeMux
}

// New returns the API handler.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{Options: opts, logger: opts.Logger, mux: http.NewServeMux()}
	s.route("POST /v1/events", true, s.postEvents)
	s.route("GET /v1/events/{id}", true, s.getEvent)
	s.route("GET /v1/messages", true, s.listMessages)
	s.route("GET /v1/channels", true, s.listChannels)
	s.route("GET /v1/messages/{id}", true, s.getMessage)
	s.route("POST /v1/messages/{id}/retry", true, s.retryMessage)
	s.route("POST /-/reload", true, s.reload)
	if opts.Runs != nil {
		s.runRoutes()
	}
	s.route("GET /healthz", false, s.healthz)
	s.route("GET /readyz", false, s.readyz)
	if opts.Metrics != nil {
		s.mux.Handle("GET /metrics", opts.Metrics)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, herald.Errorf(herald.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) route(pattern string, auth bool, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if auth {
			if err := s.authorize(r); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) authorize(r *http.Request) error {
	token := s.Settings().Token
	if token == "" {
		return nil
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		return herald.Errorf(herald.EUNAUTHORIZED, "a valid bearer token is required")
	}
	return nil
}

func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) error {
	set := s.Settings()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, set.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return herald.Errorf(herald.ETOOLARGE, "request body exceeds the limit of %d bytes", set.MaxBody)
		}
		return herald.Errorf(herald.EINVALID, "reading request body: %v", err)
	}
	events, batch, err := cloudevents.Decode(r.Header, body, cloudevents.Limits{MaxBatch: set.MaxBatch})
	if err != nil {
		return err
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if len(key) > 255 {
			return herald.Errorf(herald.EINVALID, "Idempotency-Key is longer than 255 characters")
		}
		for i := range events {
			events[i].IdempotencyKey = key
			if batch {
				events[i].IdempotencyKey = key + "#" + strconv.Itoa(i)
			}
		}
	}
	acc, err := s.Engine.Accept(r.Context(), events)
	if err != nil {
		return err
	}
	if batch {
		writeJSON(w, http.StatusAccepted, map[string]any{"events": acc})
		return nil
	}
	status := http.StatusAccepted
	if acc[0].Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, acc[0])
	return nil
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !herald.ValidID(id) {
		return herald.Errorf(herald.EINVALID, "%q is not a Herald event id", id)
	}
	v, err := s.Ledger.GetEvent(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.MessageFilter{
		Status:  herald.MessageStatus(q.Get("status")),
		Channel: q.Get("channel"),
		EventID: q.Get("event"),
		Cursor:  q.Get("cursor"),
		Now:     s.Now(),
	}
	if f.Status != "" && !herald.ValidMessageStatus(string(f.Status)) {
		return herald.Errorf(herald.EINVALID, "unknown status %q (pending, sending, sent, delivered, failed, dead, suppressed)", f.Status)
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return herald.Errorf(herald.EINVALID, "since: must be an RFC 3339 time, got %q", v)
		}
		f.Since = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return herald.Errorf(herald.EINVALID, "limit: must be a number from 1 to 1000, got %q", v)
		}
		f.Limit = n
	}
	msgs, next, err := s.Ledger.ListMessages(r.Context(), f)
	if err != nil {
		return err
	}
	if msgs == nil {
		msgs = []*herald.Message{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs, "next_cursor": next})
	return nil
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !herald.ValidID(id) {
		return herald.Errorf(herald.EINVALID, "%q is not a Herald message id", id)
	}
	m, atts, err := s.Ledger.GetMessage(r.Context(), id)
	if err != nil {
		return err
	}
	if atts == nil {
		atts = []*herald.Attempt{}
	}
	writeJSON(w, http.StatusOK, store.MessageView{Message: *m, AttemptList: atts})
	return nil
}

func (s *Server) retryMessage(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !herald.ValidID(id) {
		return herald.Errorf(herald.EINVALID, "%q is not a Herald message id", id)
	}
	m, err := s.Ledger.RetryMessage(r.Context(), id, max(1, s.Settings().MaxAttempts), s.Now())
	if err != nil {
		return err
	}
	s.Engine.Wake()
	writeJSON(w, http.StatusAccepted, m)
	return nil
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) error {
	if s.Reload == nil {
		return herald.Errorf(herald.ECONFLICT, "this server has no configuration file to reload")
	}
	v, err := s.Reload(r.Context())
	if err != nil {
		return &herald.Error{Code: herald.EINVALID, Message: "configuration rejected, the previous one stays in use: " + err.Error()}
	}
	writeJSON(w, http.StatusOK, map[string]string{"version": v})
	return nil
}

// listChannels shows each channel's circuit on this node (closed, open
// with the next probe time, half-open) and a failover channel's providers.
func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) error {
	var chans any = []any{}
	if s.Channels != nil {
		chans = s.Channels()
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": chans})
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Ledger.Ping(ctx); err != nil {
		return &herald.Error{Code: herald.EUNAVAILABLE, Message: "database unreachable", Err: err}
	}
	if s.Ready != nil {
		if err := s.Ready(ctx); err != nil {
			return &herald.Error{Code: herald.EUNAVAILABLE, Message: err.Error()}
		}
	}
	body := map[string]any{"status": "ready"}
	if s.Cluster != nil {
		body["cluster"] = s.Cluster()
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}
