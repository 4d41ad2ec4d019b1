package channeltest

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/herald-notify/herald/internal/channel"
)

// TestLengthLimit sends a text five times longer than the provider's
// declared limit (Capabilities.MaxLength), whole and split into Parts as
// the engine does with overflow: split, and checks that the send
// succeeds and that the text was shortened: an adapter never lets the
// provider reject a long text. Sent whole, the text must not arrive
// whole (adapters whose real limit is in bytes declare a conservative
// rune count, so ASCII may pass a little beyond it); sent as parts, no
// request may carry more than one part. Providers without a declared
// limit skip it.
func TestLengthLimit(t *testing.T, p Provider) {
	t.Helper()
	var (
		mu     sync.Mutex
		bodies []string
	)
	prov := startProvider(t, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b)+"\n"+r.URL.RawQuery)
		mu.Unlock()
		p.respond(w, r, http.StatusOK)
	})
	s := p.NewSender(t, prov.url)
	d, ok := s.(channel.Describer)
	if !ok || d.Capabilities().MaxLength <= 0 {
		t.Skip("the provider declares no length limit")
	}
	limit := d.Capabilities().MaxLength
	// One letter repeated: no escaping changes its length in any body
	// format, so a run longer than the limit means the text went whole.
	long := strings.Repeat("x", 5*limit)

	check := func(t *testing.T, m *channel.Message, tooMuch string) {
		t.Helper()
		mu.Lock()
		bodies = bodies[:0]
		mu.Unlock()
		if _, err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("Send of an over-long text: %v; an adapter must shorten it, not fail", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(bodies) == 0 {
			t.Fatal("no request reached the provider")
		}
		for i, b := range bodies {
			if strings.Contains(b, tooMuch) {
				t.Errorf("request %d carries %d or more characters of the text (limit %d)", i+1, len(tooMuch), limit)
			}
		}
	}
	t.Run("whole", func(t *testing.T) {
		m := p.message()
		m.Text, m.HTML, m.Parts = long, "", nil
		check(t, m, long)
	})
	if d.Capabilities().Split {
		t.Run("parts", func(t *testing.T) {
			m := p.message()
			m.Text, m.HTML = long, ""
			m.Parts = channel.Split(long, limit)
			check(t, m, strings.Repeat("x", limit+1))
		})
	}
}
