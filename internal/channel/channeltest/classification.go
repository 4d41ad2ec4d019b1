package channeltest

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/channel"
)

// TestHTTPClassification sends one message per case to a provider that
// answers with a given HTTP status (and Retry-After header) and checks
// the outcome: success with the status on the receipt for 2xx, otherwise
// a *channel.Error of the expected class carrying the status. A provider
// that never answers, with the context then expiring, must give a
// retryable "timeout". Every case must make exactly one request: adapters
// never retry by themselves.
func TestHTTPClassification(t *testing.T, p Provider) {
	t.Helper()
	type want struct {
		ok    bool
		class []channel.Class // any of these
		// after, when set, checks Error.After.
		after func(time.Duration) bool
	}
	permanent := want{class: []channel.Class{channel.ClassPermanent}}
	retryable := want{class: []channel.Class{channel.ClassRetryable}}
	exactly := func(d time.Duration) func(time.Duration) bool {
		return func(got time.Duration) bool { return got == d }
	}
	tests := []struct {
		name       string
		status     int
		retryAfter func() string
		want       want
	}{
		{name: "200", status: 200, want: want{ok: true}},
		{name: "201", status: 201, want: want{ok: true}},
		{name: "400", status: 400, want: permanent},
		{name: "401", status: 401, want: permanent},
		{name: "404", status: 404, want: permanent},
		{name: "408", status: 408, want: retryable},
		{
			name: "429 without Retry-After", status: 429,
			want: want{class: []channel.Class{channel.ClassRetryable, channel.ClassRetryAfter}},
		},
		{
			name: "429 Retry-After seconds", status: 429,
			retryAfter: func() string { return "120" },
			want:       want{class: []channel.Class{channel.ClassRetryAfter}, after: exactly(2 * time.Minute)},
		},
		{
			name: "429 Retry-After date", status: 429,
			// An HTTP-date has one-second resolution and the adapter
			// reads its own clock, so the delay is checked loosely.
			retryAfter: func() string { return time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat) },
			want: want{class: []channel.Class{channel.ClassRetryAfter}, after: func(d time.Duration) bool {
				return d > time.Minute && d <= 2*time.Minute+time.Second
			}},
		},
		{name: "500", status: 500, want: retryable},
		{name: "502", status: 502, want: retryable},
		{name: "503", status: 503, want: retryable},
		{
			name: "503 Retry-After", status: 503,
			retryAfter: func() string { return "30" },
			want:       want{class: []channel.Class{channel.ClassRetryAfter}, after: exactly(30 * time.Second)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			retryAfter := ""
			if tt.retryAfter != nil {
				retryAfter = tt.retryAfter()
			}
			prov := startProvider(t, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
				if retryAfter != "" {
					w.Header().Set("Retry-After", retryAfter)
				}
				p.respond(w, r, tt.status)
			})
			s := p.NewSender(t, prov.url)
			receipt, err := s.Send(t.Context(), p.message())
			if n := prov.requests.Load(); n != 1 {
				t.Errorf("provider got %d requests, want exactly 1", n)
			}
			if tt.want.ok {
				if err != nil {
					t.Fatalf("Send = %v, want success", err)
				}
				if receipt == nil {
					t.Fatal("Send returned a nil receipt and no error")
				}
				if receipt.StatusCode != tt.status {
					t.Errorf("Receipt.StatusCode = %d, want %d", receipt.StatusCode, tt.status)
				}
				return
			}
			if err == nil {
				t.Fatalf("Send succeeded (receipt %+v), want a failure", receipt)
			}
			class, ce := classOf(err)
			if ce == nil {
				t.Fatalf("Send error %q is not a *channel.Error", err)
			}
			if !slices.Contains(tt.want.class, class) {
				t.Errorf("class = %v (reason %q), want one of %v", class, ce.Reason, tt.want.class)
			}
			if ce.StatusCode != tt.status {
				t.Errorf("Error.StatusCode = %d, want %d", ce.StatusCode, tt.status)
			}
			if ce.Reason == "" {
				t.Error("Error.Reason is empty; it becomes a metric label")
			}
			if tt.want.after != nil && !tt.want.after(ce.After) {
				t.Errorf("Error.After = %v, not what Retry-After %q asked for", ce.After, retryAfter)
			}
		})
	}

	t.Run("slow provider, deadline", func(t *testing.T) {
		t.Parallel()
		prov := startProvider(t, hang)
		s := p.NewSender(t, prov.url)
		r := sendWhenArrived(t, s, p.message(), prov, expired)
		checkRetryable(t, r, "timeout")
	})
}

// checkRetryable checks that a send ended with a retryable *channel.Error
// with the given reason.
func checkRetryable(t *testing.T, r result, reason string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("Send succeeded (receipt %+v), want a failure", r.receipt)
	}
	class, ce := classOf(r.err)
	if ce == nil {
		t.Fatalf("Send error %q is not a *channel.Error", r.err)
	}
	if class != channel.ClassRetryable {
		t.Errorf("class = %v, want retryable (error %q)", class, r.err)
	}
	if ce.Reason != reason {
		t.Errorf("reason = %q, want %q (error %q)", ce.Reason, reason, r.err)
	}
}
