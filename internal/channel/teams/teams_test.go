package teams_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/teams"
	"github.com/herald-notify/herald/internal/netguard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The example Workflows URL of Apprise's documentation (a Logic Apps
// manual trigger).
const (
	workflowID = "643e69f83c8944438d68119179a10a64"
	signature  = "KODuebWbDGYFr0z0eu-6Rj8aUKz7108W3wrNJZxFE5A"
	webhookURL = "https://prod-161.westeurope.logic.azure.com:443/workflows/" + workflowID +
		"/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + signature
	wantPath  = "/workflows/" + workflowID + "/triggers/manual/paths/invoke"
	wantQuery = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + signature
)

func loopbackClient() *http.Client {
	return netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).HTTPClient(0)
}

func newSender(t *testing.T, s *teams.Settings) *teams.Sender {
	t.Helper()
	if s.WebhookURL == "" {
		s.WebhookURL = webhookURL
	}
	snd, err := teams.New(s, loopbackClient())
	if err != nil {
		t.Fatal(err)
	}
	return snd
}

// respond answers like the Workflows trigger: 202 with no body when it
// accepts, a Logic Apps error object otherwise.
func respond(w http.ResponseWriter, _ *http.Request, status int) {
	if status >= 200 && status < 300 {
		w.Header().Set("x-ms-workflow-run-id", "08584701166768356417224404577CU00")
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":"Status%d","message":%q}}`, status, http.StatusText(status))
}

func noRecipient() *channel.Message {
	m := channeltest.Message()
	m.To = ""
	return m
}

func TestConformance(t *testing.T) {
	t.Parallel()
	channeltest.Run(t, channeltest.Provider{
		NewSender: func(t *testing.T, url string) channel.Sender {
			return newSender(t, &teams.Settings{APIURL: url})
		},
		Respond: respond,
		Secrets: []string{signature, workflowID},
		Message: noRecipient,
	})
}

type captured struct {
	method, path, query, contentType string
	body                             []byte
}

type fakeTeams struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []captured
}

func startTeams(t *testing.T, status int, header http.Header, body string) *fakeTeams {
	t.Helper()
	f := &fakeTeams{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, captured{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), b})
		f.mu.Unlock()
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTeams) requests() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.reqs...)
}

func (f *fakeTeams) only(t *testing.T) captured {
	t.Helper()
	r := f.requests()
	if len(r) != 1 {
		t.Fatalf("Teams got %d requests, want 1", len(r))
	}
	return r[0]
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("request body differs from %s:\n got %s\nwant %s", path, got, want)
	}
}

func message() *channel.Message {
	return &channel.Message{
		ID: "msg-1", IdempotencyKey: "idem-1", Attempt: 1, EventType: "order.paid", Key: "shop/1001",
		Content: channel.Content{Subject: "Order 1001 paid", Text: "Order <1001> & co: 42.00 EUR.\nShip today."},
	}
}

func TestSendCard(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		data   string
		golden string
	}{
		{"text", "", "card.golden.json"},
		{"facts", `{"total":"42.00","items":3,"paid":true}`, "card_facts.golden.json"},
		{"own card", `{
		  "type": "AdaptiveCard", "version": "1.5",
		  "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		  "body": [{"type": "TextBlock", "text": "Custom <card>", "wrap": true}]
		}`, "card_own.golden.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startTeams(t, http.StatusAccepted, http.Header{"X-Ms-Workflow-Run-Id": {"08584701166768356417224404577CU00"}}, "")
			m := message()
			if tt.data != "" {
				m.Data = json.RawMessage(tt.data)
			}
			receipt, err := newSender(t, &teams.Settings{APIURL: srv.URL}).Send(t.Context(), m)
			if err != nil {
				t.Fatal(err)
			}
			c := srv.only(t)
			if c.method != http.MethodPost || c.path != wantPath || c.query != wantQuery {
				t.Errorf("request = %s %s?%s, want POST %s?%s", c.method, c.path, c.query, wantPath, wantQuery)
			}
			if c.contentType != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", c.contentType)
			}
			golden(t, tt.golden, c.body)
			if receipt.StatusCode != 202 || receipt.ProviderID != "08584701166768356417224404577CU00" || receipt.Delivered {
				t.Errorf("receipt = %+v, want 202, the run id, not delivered", receipt)
			}
		})
	}
}

func TestSendFullWidthAndRecipient(t *testing.T) {
	t.Parallel()
	srv := startTeams(t, http.StatusAccepted, nil, "")
	s := newSender(t, &teams.Settings{APIURL: srv.URL, FullWidth: true})
	m := message()
	m.To = "https://example.webhook.office.com/webhookb2/abc@def/IncomingWebhook/0123456789abcdef0123/ghi"
	if _, err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	c := srv.only(t)
	if c.path != "/webhookb2/abc@def/IncomingWebhook/0123456789abcdef0123/ghi" {
		t.Errorf("path = %s, want the recipient's", c.path)
	}
	var env struct {
		Attachments []struct {
			Content struct {
				MSTeams map[string]string `json:"msteams"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(c.body, &env); err != nil || len(env.Attachments) != 1 {
		t.Fatalf("body %s: %v", c.body, err)
	}
	if env.Attachments[0].Content.MSTeams["width"] != "Full" {
		t.Errorf("msteams = %v, want width Full", env.Attachments[0].Content.MSTeams)
	}

	m.To = "not a url"
	_, err := s.Send(t.Context(), m)
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent || ce.Reason != "invalid_recipient" {
		t.Errorf("Send to a non-URL = %v, want permanent invalid_recipient", err)
	}
}

func TestSendParts(t *testing.T) {
	t.Parallel()
	srv := startTeams(t, http.StatusAccepted, nil, "")
	m := message()
	m.Parts = []string{"one", "two"}
	if _, err := newSender(t, &teams.Settings{APIURL: srv.URL}).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	for i, want := range []string{`"text":"Order 1001 paid"`, ""} {
		has := strings.Contains(string(reqs[i].body), `"text":"Order 1001 paid"`)
		if has != (want != "") {
			t.Errorf("part %d: subject present = %v, want %v", i, has, want != "")
		}
	}
	if !strings.Contains(string(reqs[1].body), `"text":"two"`) {
		t.Errorf("second request %s does not carry part two", reqs[1].body)
	}
}

func TestSendLength(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		strings.Repeat("a", 40000),
		strings.Repeat("é\"\n", 20000),  // escapes double the encoded size
		strings.Repeat("\u2028😀", 9000), // \u2028 is written as 6 bytes
	} {
		srv := startTeams(t, http.StatusAccepted, nil, "")
		m := message()
		m.Text = text
		if _, err := newSender(t, &teams.Settings{APIURL: srv.URL}).Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		body := srv.only(t).body
		if len(body) > teams.MaxBodyBytes {
			t.Errorf("body is %d bytes, over %d", len(body), teams.MaxBodyBytes)
		}
		if len(body) < teams.MaxBodyBytes-64 {
			t.Errorf("body is %d bytes: cut much more than needed", len(body))
		}
		if !strings.Contains(string(body), channel.Ellipsis) {
			t.Error("a cut text should end with an ellipsis")
		}
	}

	srv := startTeams(t, http.StatusAccepted, nil, "")
	m := message()
	m.Data = json.RawMessage(`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"` + strings.Repeat("x", 30000) + `"}]}`)
	_, err := newSender(t, &teams.Settings{APIURL: srv.URL}).Send(t.Context(), m)
	var ce *channel.Error
	if !errors.As(err, &ce) || ce.Class != channel.ClassPermanent || ce.Reason != "too_large" {
		t.Errorf("an over-large card: err = %v, want permanent too_large", err)
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("an over-large card was posted (%d requests)", n)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		header    http.Header
		body      string
		ok        bool
		delivered bool
		class     channel.Class
		reason    string
	}{
		{name: "workflows accepted", status: 202, ok: true},
		{name: "legacy connector ok", status: 200, body: "1", ok: true, delivered: true},
		{name: "legacy 429 in a 200", status: 200,
			body:  "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0..",
			class: channel.ClassRetryable, reason: "teams_429"},
		{name: "legacy 413 in a 200", status: 200,
			body:  "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId tcid=0.",
			class: channel.ClassPermanent, reason: "too_large"},
		{name: "legacy bad payload", status: 400, body: "Summary or Text is required.", class: channel.ClassPermanent, reason: "http_400"},
		{name: "bad signature", status: 401,
			body:  `{"error":{"code":"DirectApiAuthorizationRequired","message":"The request must be authenticated only by Shared Access scheme."}}`,
			class: channel.ClassPermanent, reason: "http_401"},
		{name: "flow gone", status: 404,
			body:  `{"error":{"code":"WorkflowNotFound","message":"The workflow 'x' could not be found."}}`,
			class: channel.ClassPermanent, reason: "http_404"},
		{name: "throttled", status: 429, header: http.Header{"Retry-After": {"7"}},
			body:  `{"error":{"code":"WorkflowRequestsThrottled","message":"Number of requests exceeded the limit."}}`,
			class: channel.ClassRetryAfter, reason: "http_429"},
		{name: "flow failed", status: 502, body: `{"error":{"code":"BadGateway","message":"x"}}`, class: channel.ClassRetryable, reason: "http_502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startTeams(t, tt.status, tt.header, tt.body)
			r, err := newSender(t, &teams.Settings{APIURL: srv.URL}).Send(t.Context(), message())
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if r.Delivered != tt.delivered {
					t.Errorf("Delivered = %v, want %v", r.Delivered, tt.delivered)
				}
				return
			}
			var ce *channel.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *channel.Error", err)
			}
			if ce.Class != tt.class || ce.Reason != tt.reason || ce.StatusCode != tt.status {
				t.Errorf("error = %v/%s status %d, want %v/%s status %d (%v)", ce.Class, ce.Reason, ce.StatusCode, tt.class, tt.reason, tt.status, err)
			}
			if strings.Contains(err.Error(), signature) {
				t.Errorf("error shows the signature: %v", err)
			}
		})
	}
}
