package failover

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/channel"
)

// fake is a provider that answers with the errors it is given, in order
// (the last repeats; nil means success).
type fake struct {
	mu    sync.Mutex
	errs  []error
	calls int
	id    string
}

func (f *fake) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var err error
	if len(f.errs) > 0 {
		err = f.errs[min(f.calls, len(f.errs))-1]
	}
	if err != nil {
		return nil, err
	}
	return &channel.Receipt{ProviderID: f.id, StatusCode: 201}, nil
}

func (f *fake) Capabilities() channel.Capabilities {
	return channel.Capabilities{MaxLength: len(f.id) * 100, Subject: true}
}

func (f *fake) n() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

func TestFailover(t *testing.T) {
	down := channel.Retryable("http_503", 503, errors.New("503 Service Unavailable"))
	bad := channel.Permanent("http_400", 400, errors.New("invalid number"))
	slow := channel.RetryAfter("http_429", 429, 30*time.Second, errors.New("429"))
	tests := []struct {
		name        string
		a, b        []error
		wantID      string
		wantClass   channel.Class
		wantAfter   time.Duration
		wantBCalled bool
	}{
		{name: "primary works", a: []error{nil}, b: []error{nil}, wantID: "a:ida"},
		{name: "primary down", a: []error{down}, b: []error{nil}, wantID: "b:idb", wantBCalled: true},
		{name: "primary rejects", a: []error{bad}, b: []error{nil}, wantID: "b:idb", wantBCalled: true},
		{name: "both reject", a: []error{bad}, b: []error{bad}, wantClass: channel.ClassPermanent, wantBCalled: true},
		{name: "one down one rejects", a: []error{down}, b: []error{bad}, wantClass: channel.ClassRetryable, wantBCalled: true},
		{name: "both rate limited", a: []error{slow}, b: []error{slow}, wantClass: channel.ClassRetryAfter, wantAfter: 30 * time.Second, wantBCalled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := &fake{errs: tt.a, id: "ida"}, &fake{errs: tt.b, id: "idb"}
			s, err := New(&Settings{Providers: []string{"a", "b"}}, map[string]channel.Sender{"a": a, "b": b})
			if err != nil {
				t.Fatal(err)
			}
			rc, err := s.Send(context.Background(), &channel.Message{ID: "m1"})
			if tt.wantID != "" {
				if err != nil || rc.ProviderID != tt.wantID {
					t.Fatalf("Send = %+v, %v; want provider id %q", rc, err, tt.wantID)
				}
			} else {
				var ce *channel.Error
				if !errors.As(err, &ce) || ce.Class != tt.wantClass {
					t.Fatalf("Send error = %v, want class %v", err, tt.wantClass)
				}
				if tt.wantAfter > 0 && ce.After != tt.wantAfter {
					t.Errorf("After = %v, want %v", ce.After, tt.wantAfter)
				}
				if !strings.Contains(err.Error(), "a: ") || !strings.Contains(err.Error(), "b: ") {
					t.Errorf("error does not name each provider: %v", err)
				}
			}
			if (b.n() > 0) != tt.wantBCalled {
				t.Errorf("secondary called %d times, want called=%v", b.n(), tt.wantBCalled)
			}
		})
	}
}

// TestFailoverSkipsOpenCircuit: once the primary has failed often enough,
// it is skipped (no timeout paid per message) until its cooldown ends.
func TestFailoverSkipsOpenCircuit(t *testing.T) {
	down := channel.Retryable("timeout", 0, errors.New("timeout"))
	a, b := &fake{errs: []error{down}, id: "ida"}, &fake{id: "idb"}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	s, err := New(&Settings{Providers: []string{"a", "b"}, Failures: 3, Cooldown: time.Minute}, map[string]channel.Sender{"a": a, "b": b})
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return now }
	for i := 0; i < 10; i++ {
		if rc, err := s.Send(context.Background(), &channel.Message{ID: "m"}); err != nil || rc.ProviderID != "b:idb" {
			t.Fatalf("send %d: %+v %v", i, rc, err)
		}
	}
	if a.n() != 3 {
		t.Errorf("primary called %d times, want 3 (then its circuit opened)", a.n())
	}
	if st := s.Status()["a"]; st.State != "open" {
		t.Errorf("primary circuit %+v, want open", st)
	}
	// After the cooldown one probe goes to the primary; it recovered.
	a.mu.Lock()
	a.errs = []error{nil}
	a.calls = 0
	a.mu.Unlock()
	now = now.Add(time.Minute)
	if rc, err := s.Send(context.Background(), &channel.Message{ID: "m"}); err != nil || rc.ProviderID != "a:ida" {
		t.Fatalf("probe: %+v %v", rc, err)
	}
	if st := s.Status()["a"]; st.State != "closed" {
		t.Errorf("primary circuit after a good probe: %+v", st)
	}
}

func TestSettings(t *testing.T) {
	if err := (&Settings{Providers: []string{"a"}}).Validate(); err == nil {
		t.Error("one provider accepted")
	}
	if err := (&Settings{Providers: []string{"a", "a"}}).Validate(); err == nil {
		t.Error("a provider listed twice accepted")
	}
	if _, err := New(&Settings{Providers: []string{"a", "zz"}}, map[string]channel.Sender{"a": &fake{}}); err == nil {
		t.Error("a provider without a sender accepted")
	}
	s, _ := New(&Settings{Providers: []string{"a", "b"}}, map[string]channel.Sender{"a": &fake{id: "x"}, "b": &fake{id: "xyz"}})
	if c := s.Capabilities(); c.MaxLength != 100 || !c.Subject {
		t.Errorf("capabilities %+v, want the shortest limit (100)", c)
	}
}

// hang is a provider that never answers: it returns when its context ends.
type hang struct{}

func (hang) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	<-ctx.Done()
	return nil, channel.ClassifyNetError(ctx.Err())
}

// TestFailoverHangingPrimary: a primary that hangs gets its share of the
// attempt's time, not all of it; the secondary still delivers.
func TestFailoverHangingPrimary(t *testing.T) {
	b := &fake{id: "idb"}
	s, err := New(&Settings{Providers: []string{"a", "b"}}, map[string]channel.Sender{"a": hang{}, "b": b})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rc, err := s.Send(ctx, &channel.Message{ID: "m"})
	if err != nil || rc.ProviderID != "b:idb" {
		t.Fatalf("Send = %+v, %v; want delivered by b", rc, err)
	}
}

// TestFailoverAllOpen: with every provider's circuit open, the error says
// so (the engine postpones such a message without using an attempt).
func TestFailoverAllOpen(t *testing.T) {
	down := channel.Retryable("timeout", 0, errors.New("timeout"))
	a, b := &fake{errs: []error{down}}, &fake{errs: []error{down}}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	s, _ := New(&Settings{Providers: []string{"a", "b"}, Failures: 1, Cooldown: time.Minute}, map[string]channel.Sender{"a": a, "b": b})
	s.now = func() time.Time { return now }
	s.Send(context.Background(), &channel.Message{ID: "m"})
	_, err := s.Send(context.Background(), &channel.Message{ID: "m"})
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Reason != channel.ReasonCircuitOpen || ce.After != time.Minute {
		t.Fatalf("Send with every circuit open = %v, want %s after 1m", err, channel.ReasonCircuitOpen)
	}
	if a.n() != 1 || b.n() != 1 {
		t.Errorf("providers called %d and %d times, want once each", a.n(), b.n())
	}
}
