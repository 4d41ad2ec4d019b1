package channeltest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/herald-notify/herald/internal/channel"
)

// provider is an httptest server playing the provider for one case.
type provider struct {
	url      string
	requests atomic.Int64
	// arrived receives once per request, before the handler answers.
	arrived chan struct{}
}

// startProvider starts a server whose handler calls answer for every
// request. The server is closed when the test ends; a handler blocked on
// release is let go first.
func startProvider(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, release <-chan struct{})) *provider {
	t.Helper()
	p := &provider{arrived: make(chan struct{}, 16)}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		select {
		case p.arrived <- struct{}{}:
		default:
		}
		answer(w, r, release)
	}))
	p.url = srv.URL
	// Cleanups run last-in first-out: release the handlers, then close.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return p
}

// hang is an answer that waits until the client goes away (or the test
// ends) without responding.
func hang(_ http.ResponseWriter, r *http.Request, release <-chan struct{}) {
	select {
	case <-r.Context().Done():
	case <-release:
	}
}

// result is the outcome of one Send.
type result struct {
	receipt *channel.Receipt
	err     error
}

// sendWhenArrived starts Send in the background, waits until the request
// reached the provider, ends ctx with cause, and returns the outcome.
func sendWhenArrived(t *testing.T, s channel.Sender, m *channel.Message, p *provider, cause error) result {
	t.Helper()
	ctx := NewManualContext(t.Context())
	done := make(chan result, 1)
	go func() {
		r, err := s.Send(ctx, m)
		done <- result{r, err}
	}()
	select {
	case <-p.arrived:
	case r := <-done:
		t.Fatalf("Send returned before the request reached the provider: %v", r.err)
	}
	ctx.End(cause)
	return <-done
}

// expired is the error a context that hit its deadline reports.
var expired = context.DeadlineExceeded
