package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/herald-notify/herald/internal/app"
	"github.com/herald-notify/herald/internal/store"
	"github.com/herald-notify/herald/internal/store/postgres/pgtest"
)

// tcpProxy forwards a local port to PostgreSQL and can cut every
// connection (and refuse new ones) and come back on the same port, so a
// test can take the database away from one Herald without touching the
// server other tests use.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
}

func (p *tcpProxy) serve(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close(); c.Close() }()
	io.Copy(c, up)
	c.Close()
	up.Close()
}

// cut closes the listener and every connection: the database is gone.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// restore listens again on the same address.
func (p *tcpProxy) restore() { p.listen(p.addr) }

// TestDatabaseOutage cuts PostgreSQL away from a running Herald under a
// stream of events: while it is gone, ingestion answers 503 with
// Retry-After and a problem detail (nothing half-written), /readyz says
// not ready; once it is back, ingestion and delivery resume by themselves
// and every event that was answered 202 is delivered.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	proxy := newTCPProxy(t, "127.0.0.1:5432")
	proxied := strings.Replace(url, "127.0.0.1:5432", proxy.addr, 1)
	proxied += "&connect_timeout=2"

	rcv := newReceiver(t)
	a, err := app.New(context.Background(), app.Options{
		ConfigPath: writeConfig(t, `
network: {allow_private: [127.0.0.0/8]}
delivery: {lease: 2s, timeout: 2s, backoff: {initial: 100ms, max: 500ms}}
channels:
  hook: {type: webhook, url: "`+rcv.srv.URL+`/hook"}
rules:
  - name: forward
    on: outage.test
    steps:
      - notify: {channel: hook, data: {n: "{{ .event.data.n }}"}}
`),
		Listen:    "127.0.0.1:0",
		Storage:   proxied,
		Schema:    schema,
		Logger:    slog.New(slog.DiscardHandler),
		LookupEnv: func(string) (string, bool) { return "", false },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	base := "http://" + a.Addr()

	post := func(n int) (*http.Response, []byte) {
		body := `{"type":"outage.test","data":{"n":` + itoa(n) + `}}`
		resp, err := http.Post(base+"/v1/events", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	accepted := map[int]bool{}
	n := 0
	for ; n < 20; n++ {
		if resp, b := post(n); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("before the outage: %d %s", resp.StatusCode, b)
		}
		accepted[n] = true
	}

	proxy.cut()
	// During the outage: 503, Retry-After, a problem detail; never a 202
	// for something that was not stored.
	sawOutage := false
	for i := 0; i < 10; i++ {
		resp, b := post(n)
		n++
		switch resp.StatusCode {
		case http.StatusAccepted:
			// Only possible before the pool noticed; counted as accepted.
			accepted[n-1] = true
		case http.StatusServiceUnavailable:
			sawOutage = true
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			var prob struct {
				Type, Title, Detail string
				Status              int
			}
			if err := json.Unmarshal(b, &prob); err != nil || prob.Status != 503 || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("503 body is not a problem detail: %s (%s)", b, resp.Header.Get("Content-Type"))
			}
			if strings.Contains(string(b), "postgres://") {
				t.Errorf("the problem detail leaks the database URL: %s", b)
			}
		default:
			t.Errorf("during the outage: %d %s, want 503", resp.StatusCode, b)
		}
	}
	if !sawOutage {
		t.Fatal("no request saw the outage")
	}
	if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %v %v, want 503", resp.StatusCode, err)
	}

	proxy.restore()
	eventually(t, "ingestion to resume", func() bool {
		resp, _ := post(n)
		n++
		if resp.StatusCode == http.StatusAccepted {
			accepted[n-1] = true
			return true
		}
		return false
	})
	for i := 0; i < 10; i++ {
		if resp, b := post(n); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("after the outage: %d %s", resp.StatusCode, b)
		}
		accepted[n] = true
		n++
	}
	eventually(t, "every accepted event delivered", func() bool {
		got := map[int]bool{}
		rcv.mu.Lock()
		for _, r := range rcv.requests {
			var body struct {
				N string `json:"n"`
			}
			if json.Unmarshal(r.body, &body) == nil {
				var k int
				for _, c := range body.N {
					k = k*10 + int(c-'0')
				}
				got[k] = true
			}
		}
		rcv.mu.Unlock()
		for k := range accepted {
			if !got[k] {
				return false
			}
		}
		return true
	})
	// Nothing half-written: every stored event has its message. (A
	// commit cut at the very moment it was made may have landed although
	// the client got a 503; a retry with the same id would be deduplicated.)
	msgs, _, err := a.Store().ListMessages(context.Background(), store.MessageFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) < len(accepted) || len(msgs) > n {
		t.Errorf("%d messages stored for %d accepted events (%d sent)", len(msgs), len(accepted), n)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
