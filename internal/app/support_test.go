package app_test

import (
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/channel/email/smtptest"
	"github.com/herald-notify/herald/internal/herald"
)

// TestSupportExample runs examples/support with an injected clock: the
// agent is told, the SLA escalation fires when nobody picks the ticket
// up, and the customer is told when it is resolved (which also ends the
// SLA watch).
func TestSupportExample(t *testing.T) {
	t.Parallel()
	smtp := smtptest.Start(t, smtptest.Options{})
	chat := newReceiver(t)
	clk := newClock()
	env := map[string]string{
		"SUPPORT_CHAT_URL": chat.srv.URL + "/chat",
		"SUPPORT_SMTP_URL": "smtp://" + smtp.Addr() + "?from=support@example.com&tls=none",
	}
	h := startAt(t, "../../examples/support/herald.yaml", env, filepath.Join(t.TempDir(), "h.db"), clk.Now)
	ticket := `{"type":"ticket.created","data":{"ticket_id":"T-7","title":"Cannot log in",
		"agent":{"name":"Ada","email":"ada@support.example.com"},
		"customer":{"name":"Bob","email":"bob@example.com"}}}`

	// Picked up in time: no escalation.
	id := h.emit(ticket)
	h.waitRun(id, waiting("event ticket.updated"), "the SLA watch")
	eventually(t, "agent told on chat", func() bool { return len(chat.byPath("/chat")) == 1 })
	if msgs, _ := smtp.Wait(t.Context(), 1); len(msgs) < 1 || msgs[0].To[0] != "ada@support.example.com" {
		t.Fatalf("agent mail: %+v", msgs)
	}
	if !strings.Contains(chat.byPath("/chat")[0], "/ack/") {
		t.Errorf("chat message has no ack link: %q", chat.byPath("/chat")[0])
	}
	h.emit(`{"type":"ticket.updated","data":{"ticket_id":"T-7","status":"in_progress"}}`)
	h.waitRun(id, status(herald.RunCompleted), "the SLA watch to end")

	// Not picked up: the lead is told at 4h, paged and the customer
	// reassured at 6h.
	id2 := h.emit(strings.ReplaceAll(ticket, "T-7", "T-8"))
	h.waitRun(id2, waiting("event ticket.updated"), "the second SLA watch")
	clk.advance(h, 4*time.Hour+time.Second)
	eventually(t, "the lead told", func() bool {
		return containsPrefix(chat.byPath("/chat"), "SLA breached: ticket T-8")
	})
	h.waitRun(id2, waiting("ack"), "the second stage")
	clk.advance(h, 2*time.Hour)
	eventually(t, "the lead paged", func() bool {
		return containsPrefix(chat.byPath("/chat"), "Ticket T-8 still unattended")
	})
	msgs, err := smtp.Wait(t.Context(), 3) // agent T-7, agent T-8, reassurance
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range msgs {
		pm, _ := mail.ReadMessage(strings.NewReader(string(m.Data)))
		found = found || (m.To[0] == "bob@example.com" && strings.Contains(pm.Header.Get("Subject"), "T-8"))
	}
	if !found {
		t.Errorf("no reassurance mail to the customer among %d mails", len(msgs))
	}

	// Resolved while the SLA watch runs: it is cancelled, the customer told.
	id3 := h.emit(strings.ReplaceAll(ticket, "T-7", "T-9"))
	h.waitRun(id3, waiting("event ticket.updated"), "the third SLA watch")
	h.emit(`{"type":"ticket.resolved","data":{"ticket_id":"T-9","title":"Cannot log in","resolution":"Password reset.","customer":{"name":"Bob","email":"bob@example.com"}}}`)
	h.waitRun(id3, status(herald.RunCancelled), "the SLA watch cancelled")
	msgs, err = smtp.Wait(t.Context(), 5) // + agent T-9, + resolved
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, m := range msgs {
		pm, _ := mail.ReadMessage(strings.NewReader(string(m.Data)))
		subjects = append(subjects, pm.Header.Get("Subject"))
	}
	if !contains(subjects, "Your request T-9 is resolved") {
		t.Errorf("mail subjects %q lack the resolution", subjects)
	}
	clk.advance(h, 24*time.Hour)
	clk.settle(h)
	if containsPrefix(chat.byPath("/chat"), "SLA breached: ticket T-9") {
		t.Error("the resolved ticket escalated")
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
