package app_test

import (
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/channel/email/smtptest"
	"github.com/herald-notify/herald/internal/channel/webhook"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// TestShopExample runs examples/shop end to end: order.paid sends the
// confirmation mail through a real SMTP server, calls the warehouse API,
// and emits a follow-up event another rule picks up; order.shipped sends
// the tracking mail.
func TestShopExample(t *testing.T) {
	t.Parallel()
	smtp := smtptest.Start(t, smtptest.Options{TLS: smtptest.TLSNone})
	warehouse := newReceiver(t, answer{status: 201, body: `{"shipment_id":"shp-77"}`, header: map[string]string{"Content-Type": "application/json"}})
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	h := start(t, "../../examples/shop/herald.yaml", map[string]string{
		"SHOP_SMTP_URL":    "smtp://" + smtp.Addr() + "?from=shop@example.com&tls=none",
		"WAREHOUSE_URL":    warehouse.srv.URL,
		"WAREHOUSE_SECRET": secret,
	})

	paid, err := os.ReadFile("../../examples/shop/order-paid.json")
	if err != nil {
		t.Fatal(err)
	}
	var acc struct{ ID string }
	if code := h.do("POST", "/v1/events", "application/cloudevents+json", paid, nil, &acc); code != 202 {
		t.Fatalf("POST order.paid = %d", code)
	}

	msgs, err := smtp.Wait(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if len(m.To) != 1 || m.To[0] != "ada@example.com" || m.From != "shop@example.com" {
		t.Errorf("envelope from %q to %v", m.From, m.To)
	}
	parsed, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.Header.Get("Subject"); got != "Order 1001 confirmed" {
		t.Errorf("subject = %q", got)
	}
	text, html := mailParts(t, parsed)
	for _, want := range []string{"Hello Ada,", "order 1001", "Total: 59.8 EUR", "- 2 × Notebook", "- 4 × Pen"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(html, "<b>1001</b>") || !strings.Contains(html, "<li>2 × Notebook</li>") {
		t.Errorf("html part:\n%s", html)
	}

	eventually(t, "warehouse call", func() bool { return warehouse.count() >= 1 })
	call := warehouse.get(0)
	if call.method != "POST" || call.path != "/shipments" || call.header.Get("X-Order-Id") != "1001" {
		t.Errorf("warehouse call %s %s X-Order-Id=%q", call.method, call.path, call.header.Get("X-Order-Id"))
	}
	var body map[string]any
	if err := json.Unmarshal(call.body, &body); err != nil || body["order_id"] != "1001" || body["address"] != "1 Analytical Way" {
		t.Errorf("warehouse body %s (%v)", call.body, err)
	}
	id := call.header.Get("webhook-id")
	if id == "" || call.header.Get("Idempotency-Key") != id {
		t.Errorf("webhook-id %q, Idempotency-Key %q: want equal and set", id, call.header.Get("Idempotency-Key"))
	}
	key, _ := webhook.DecodeSecret(secret)
	var ts int64
	if _, err := fmtSscan(call.header.Get("webhook-timestamp"), &ts); err != nil {
		t.Fatalf("webhook-timestamp: %v", err)
	}
	if want := webhook.Sign(key, id, ts, call.body); !strings.Contains(call.header.Get("webhook-signature"), want) {
		t.Errorf("webhook-signature %q, want %q", call.header.Get("webhook-signature"), want)
	}

	// The emitted event starts the operations rule, with the warehouse's
	// answer in its data.
	var emitted string
	eventually(t, "the run to complete", func() bool {
		r := runByRule(h.event(acc.ID), "confirm-order")
		if r == nil || r.Status != herald.RunCompleted {
			return false
		}
		var st struct {
			Steps map[string]map[string]any `json:"steps"`
		}
		json.Unmarshal(r.State, &st)
		emitted, _ = st.Steps["fulfillment"]["event_id"].(string)
		return true
	})
	if emitted == "" {
		t.Fatal("run state has no emitted event id")
	}
	eventually(t, "the follow-up run", func() bool {
		v := h.event(emitted)
		return len(v.Runs) == 1 && v.Runs[0].Status == herald.RunCompleted && len(v.Messages) == 1 &&
			v.Messages[0].Status == herald.MessageDelivered
	})
	follow := h.event(emitted)
	if follow.Event.ParentID != acc.ID || follow.Event.Type != "order.fulfillment_requested" ||
		string(follow.Event.Data) != `{"order_id":"1001","shipment_id":"shp-77"}` {
		t.Errorf("follow-up event = %+v data %s", follow.Event, follow.Event.Data)
	}
	v := h.event(acc.ID)
	if len(v.Messages) != 2 {
		t.Fatalf("order.paid has %d messages, want mail and warehouse call", len(v.Messages))
	}
	for _, msg := range v.Messages {
		if msg.Status != herald.MessageSent || len(msg.AttemptList) != 1 || msg.Key != "order/1001" {
			t.Errorf("message %s on %s: status %s, %d attempts, key %q", msg.ID, msg.Channel, msg.Status, len(msg.AttemptList), msg.Key)
		}
	}

	// The shipment watch waits for order.shipped.
	if r := runByRule(h.event(acc.ID), "watch-shipment"); r == nil || r.Status != herald.RunWaiting {
		t.Fatalf("watch-shipment run = %+v", r)
	}
	h.emit(readFile(t, "../../examples/shop/order-shipped.json"))
	eventually(t, "the shipment watch to end", func() bool {
		r := runByRule(h.event(acc.ID), "watch-shipment")
		return r.Status == herald.RunCompleted && strings.Contains(string(r.State), `"carrier":"DHL"`)
	})
	msgs, err = smtp.Wait(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	shipped, _ := mail.ReadMessage(strings.NewReader(string(msgs[1].Data)))
	if got := shipped.Header.Get("Subject"); got != "Order 1001 is on its way" {
		t.Errorf("shipped subject = %q", got)
	}
	b, _ := io.ReadAll(shipped.Body)
	if !strings.Contains(string(b), "https://track.example.com/1001") {
		t.Errorf("shipped body lacks tracking link:\n%s", b)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mailParts returns the text and HTML parts of a multipart/alternative mail.
func mailParts(t *testing.T, m *mail.Message) (text, html string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		switch ct := p.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain"):
			text = string(b)
		case strings.HasPrefix(ct, "text/html"):
			html = string(b)
		}
	}
}

func runByRule(v *store.EventView, rule string) *herald.Run {
	for _, r := range v.Runs {
		if r.Rule == rule {
			return r
		}
	}
	return nil
}
