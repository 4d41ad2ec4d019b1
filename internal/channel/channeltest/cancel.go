package channeltest

import (
	"context"
	"net/http"
	"testing"
)

// TestContextCancel checks that Send honours its context: canceled while
// the provider is still working, Send returns at once with a retryable
// "canceled" error; with a context canceled before the call, Send fails
// retryably without delivering.
func TestContextCancel(t *testing.T, p Provider) {
	t.Helper()
	t.Run("canceled in flight", func(t *testing.T) {
		t.Parallel()
		prov := startProvider(t, hang)
		r := sendWhenArrived(t, p.NewSender(t, prov.url), p.message(), prov, context.Canceled)
		checkRetryable(t, r, "canceled")
	})
	t.Run("canceled before", func(t *testing.T) {
		t.Parallel()
		prov := startProvider(t, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
			p.respond(w, r, http.StatusOK)
		})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		receipt, err := p.NewSender(t, prov.url).Send(ctx, p.message())
		checkRetryable(t, result{receipt, err}, "canceled")
	})
}
