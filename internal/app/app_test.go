package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/herald-notify/herald/internal/store/postgres/pgtest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/app"
	"github.com/herald-notify/herald/internal/store"
)

// harness runs a whole Herald in-process on a free port.
type harness struct {
	t       *testing.T
	app     *app.App
	done    chan error
	cancel  context.CancelFunc
	stopped bool
}

func start(t *testing.T, configPath string, env map[string]string) *harness {
	t.Helper()
	return startAt(t, configPath, env, filepath.Join(t.TempDir(), "herald.db"), nil)
}

// startAt starts Herald on a given database with a given clock (nil: real).
func startAt(t *testing.T, configPath string, env map[string]string, db string, now func() time.Time) *harness {
	t.Helper()
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	storage, schema := backendFor(t, db)
	a, err := app.New(context.Background(), app.Options{
		ConfigPath: configPath,
		Listen:     "127.0.0.1:0",
		Storage:    storage,
		Schema:     schema,
		Logger:     logger,
		LookupEnv:  lookup,
		Now:        now,
	})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, app: a, done: make(chan error, 1), cancel: cancel}
	go func() { h.done <- a.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

// backendFor returns the storage a test's Herald uses for a database
// path: the SQLite file itself, or, when HERALD_TEST_BACKEND=postgres
// (scripts/test.sh runs this package a second time so), a PostgreSQL
// schema of its own on the test database — the same one every time the
// test restarts Herald on that path.
func backendFor(t *testing.T, db string) (storage, schema string) {
	t.Helper()
	if os.Getenv("HERALD_TEST_BACKEND") != "postgres" {
		return db, ""
	}
	pgSchemas.Lock()
	defer pgSchemas.Unlock()
	if e, ok := pgSchemas.m[db]; ok {
		return e[0], e[1]
	}
	url, schema := pgtest.Schema(t)
	pgSchemas.m[db] = [2]string{url, schema}
	return url, schema
}

var pgSchemas = struct {
	sync.Mutex
	m map[string][2]string
}{m: map[string][2]string{}}

// stop shuts the server down (idempotent).
func (h *harness) stop() {
	if h.stopped {
		return
	}
	h.stopped = true
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
}

// clock is a settable clock for tests that drive time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// settle waits until Herald has done everything due at the clock's
// current time: nothing in memory, no commit in flight, and nothing due
// in the database. Only then can a test assert that something did *not*
// happen.
func (c *clock) settle(h *harness) {
	h.t.Helper()
	h.app.Engine().Wake()
	eventually(h.t, "the engine to settle", func() bool {
		if !h.app.Engine().Idle() {
			return false
		}
		next, err := h.app.Store().NextDue(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		if next.IsZero() || next.After(c.Now()) {
			return h.app.Engine().Idle()
		}
		h.app.Engine().Wake()
		return false
	})
}

// advance moves the clock and tells the engine to look for due work. It
// settles first: jumping the clock while an attempt is in flight would
// expire its lease under it and send the message twice, which a real
// clock never does.
func (c *clock) advance(h *harness, d time.Duration) {
	h.t.Helper()
	c.settle(h)
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	h.app.Engine().Wake()
}

// post sends a request to the API and decodes a JSON answer into out.
func (h *harness) do(method, path, contentType string, body []byte, header map[string]string, out any) int {
	h.t.Helper()
	req, err := http.NewRequest(method, h.app.URL()+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func (h *harness) emit(body string) string {
	h.t.Helper()
	var acc struct {
		ID string `json:"id"`
	}
	if code := h.do("POST", "/v1/events", "application/json", []byte(body), nil, &acc); code != http.StatusAccepted {
		h.t.Fatalf("POST /v1/events = %d, want 202", code)
	}
	return acc.ID
}

func (h *harness) event(id string) *store.EventView {
	h.t.Helper()
	var v store.EventView
	if code := h.do("GET", "/v1/events/"+id, "", nil, nil, &v); code != http.StatusOK {
		h.t.Fatalf("GET /v1/events/%s = %d", id, code)
	}
	return &v
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receiver is a webhook endpoint that records requests and answers with
// the statuses it is given, in order (the last one repeats).
type receiver struct {
	mu       sync.Mutex
	srv      *httptest.Server
	requests []*recorded
	answers  []answer
}

type answer struct {
	status int
	header map[string]string
	body   string
	delay  time.Duration
}

type recorded struct {
	at     time.Time
	method string
	path   string
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, answers ...answer) *receiver {
	r := &receiver{answers: answers}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, &recorded{at: time.Now(), method: req.Method, path: req.URL.Path, header: req.Header.Clone(), body: b})
		a := answer{status: 200}
		if n := len(r.requests); len(r.answers) > 0 {
			a = r.answers[min(n, len(r.answers))-1]
		}
		r.mu.Unlock()
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-req.Context().Done():
			}
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

func (r *receiver) get(i int) *recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[i]
}

// writeConfig writes a test configuration into a temp file.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func fmtSscan(s string, v *int64) (int, error) { return fmt.Sscan(s, v) }

func ioCopy(w io.Writer, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}
