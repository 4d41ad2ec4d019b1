package nats_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/nats"
	"github.com/herald-notify/herald/internal/testenv"
)

// wait bounds every wait on the server; it only fails a test when
// something is really broken.
const wait = 30 * time.Second

const password = "Hunter2Secret-nats"

func suffix(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// uniqueSubject returns a subject no other test (or run) publishes to.
func uniqueSubject(t *testing.T) string {
	name := strings.Map(func(r rune) rune {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r == '/' {
			return '_'
		}
		return r
	}, t.Name())
	return "herald-test." + name + "." + suffix(t)
}

func newSender(t *testing.T, s *nats.Settings) *nats.Sender {
	t.Helper()
	snd, err := nats.New(s)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := snd.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return snd
}

// client connects a separate nats.go client for the test's own checks.
func client(t *testing.T, addr string) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect("nats://" + addr)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func message() *channel.Message {
	m := channeltest.Message()
	m.To = ""
	return m
}

func TestCorePublishEnvelope(t *testing.T) {
	addr := testenv.NATS(t)
	subject := uniqueSubject(t)
	nc := client(t, addr)
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	snd := newSender(t, &nats.Settings{Server: "nats://" + addr, Subject: subject})
	r, err := snd.Send(t.Context(), message())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r == nil || r.Delivered || r.ProviderID != "" {
		t.Errorf("receipt = %+v, want one not Delivered without a provider id", r)
	}
	got, err := sub.NextMsg(wait)
	if err != nil {
		t.Fatalf("no message arrived: %v", err)
	}
	want := `{"message_id":"0195f1c2-7a3b-7c00-9d1e-000000000001","event_id":"0195f1c2-7a3b-7c00-9d1e-0000000000e1",` +
		`"event_type":"order.paid","key":"shop/order-1001","subject":"Order 1001 paid","text":"Order 1001 was paid: 42.00 EUR."}`
	if string(got.Data) != want {
		t.Errorf("payload = %s\nwant      %s", got.Data, want)
	}
}

func TestCorePublishDataToRecipient(t *testing.T) {
	addr := testenv.NATS(t)
	subject := uniqueSubject(t)
	nc := client(t, addr)
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The channel's own subject is not where the message goes: its
	// recipient is.
	snd := newSender(t, &nats.Settings{Server: "nats://" + addr, Subject: subject + ".elsewhere"})
	m := message()
	m.To = subject
	m.Data = json.RawMessage(`{"order":1001, "total": "42.00"}`)
	if _, err := snd.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got, err := sub.NextMsg(wait)
	if err != nil {
		t.Fatalf("no message arrived: %v", err)
	}
	if string(got.Data) != string(m.Data) {
		t.Errorf("payload = %s, want the data as is: %s", got.Data, m.Data)
	}
}

// stream creates a JetStream stream with a unique name on a unique subject
// and deletes it when the test ends.
func stream(t *testing.T, addr string) (jetstream.Stream, string) {
	t.Helper()
	js, err := jetstream.New(client(t, addr))
	if err != nil {
		t.Fatal(err)
	}
	name := "HERALD_TEST_" + strings.ToUpper(suffix(t))
	subject := uniqueSubject(t)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       name,
		Subjects:   []string{subject},
		Storage:    jetstream.MemoryStorage,
		Duplicates: 10 * time.Minute,
	})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Errorf("delete stream %s: %v", name, err)
		}
	})
	return st, subject
}

func TestJetStreamDeduplicatesRetries(t *testing.T) {
	addr := testenv.NATS(t)
	st, subject := stream(t, addr)
	snd := newSender(t, &nats.Settings{Server: "nats://" + addr, Subject: subject, JetStream: true})

	var acks [2]struct {
		Stream    string `json:"stream"`
		Seq       uint64 `json:"seq"`
		Duplicate bool   `json:"duplicate"`
	}
	for i := range acks {
		m := message()
		m.Attempt = i + 1 // a retry: same message, same idempotency key
		r, err := snd.Send(t.Context(), m)
		if err != nil {
			t.Fatalf("attempt %d: Send: %v", i+1, err)
		}
		if want := st.CachedInfo().Config.Name + "/1"; r.ProviderID != want {
			t.Errorf("attempt %d: ProviderID = %q, want %q", i+1, r.ProviderID, want)
		}
		if r.Delivered {
			t.Errorf("attempt %d: receipt says Delivered", i+1)
		}
		if err := json.Unmarshal(r.Response, &acks[i]); err != nil {
			t.Fatalf("attempt %d: response %s: %v", i+1, r.Response, err)
		}
	}
	if acks[0].Duplicate || !acks[1].Duplicate {
		t.Errorf("duplicate flags = %v, %v; want false, true", acks[0].Duplicate, acks[1].Duplicate)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream holds %d messages, want 1", info.State.Msgs)
	}

	// A different message is a new one.
	m := message()
	m.ID, m.IdempotencyKey = "other-message", "other-message"
	r, err := snd.Send(t.Context(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !strings.HasSuffix(r.ProviderID, "/2") {
		t.Errorf("ProviderID = %q, want sequence 2", r.ProviderID)
	}
	raw, err := st.GetMsg(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.Header.Get(jetstream.MsgIDHeader); got != channeltest.Message().IdempotencyKey {
		t.Errorf("Nats-Msg-Id = %q, want the idempotency key", got)
	}
	if want, _ := nats.Payload(message()); string(raw.Data) != string(want) {
		t.Errorf("stored payload = %s, want %s", raw.Data, want)
	}
}

func TestJetStreamNoStream(t *testing.T) {
	addr := testenv.NATS(t)
	snd := newSender(t, &nats.Settings{Server: "nats://" + addr, Subject: uniqueSubject(t), JetStream: true})
	_, err := snd.Send(t.Context(), message())
	checkClass(t, err, channel.ClassPermanent, "no_stream")
}

func TestPayloadTooLarge(t *testing.T) {
	addr := testenv.NATS(t)
	nc := client(t, addr)
	snd := newSender(t, &nats.Settings{Server: "nats://" + addr, Subject: uniqueSubject(t)})
	m := message()
	m.Data = json.RawMessage(`"` + strings.Repeat("x", int(nc.MaxPayload())) + `"`)
	_, err := snd.Send(t.Context(), m)
	checkClass(t, err, channel.ClassPermanent, "payload_too_large")
}

func TestInvalidSubjectIsPermanent(t *testing.T) {
	// Nothing listens: a connection attempt would fail as "connect".
	snd := newSender(t, &nats.Settings{Server: "nats://" + closedAddr(t)})
	for _, subject := range []string{"a b", "a.*", "a.>", ">", ".a", "a.", "a..b", "a\r\nPUB x 1"} {
		m := message()
		m.To = subject
		_, err := snd.Send(t.Context(), m)
		checkClass(t, err, channel.ClassPermanent, "invalid_subject")
	}
	_, err := snd.Send(t.Context(), message())
	checkClass(t, err, channel.ClassPermanent, "no_subject")
	_, err = snd.Send(t.Context(), nil)
	checkClass(t, err, channel.ClassPermanent, "invalid_message")
}

func TestCapabilities(t *testing.T) {
	snd := newSender(t, &nats.Settings{Server: "nats://" + closedAddr(t), Subject: "a"})
	if c := snd.Capabilities(); c != (channel.Capabilities{}) {
		t.Errorf("Capabilities = %+v, want none", c)
	}
}

func TestNewRejectsInvalidSettings(t *testing.T) {
	if _, err := nats.New(&nats.Settings{Subject: "a"}); err == nil {
		t.Error("New without a server succeeded")
	}
	if _, err := nats.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

// closedAddr returns an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func checkClass(t *testing.T, err error, class channel.Class, reason string) {
	t.Helper()
	var ce *channel.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *channel.Error", err, err)
	}
	if ce.Class != class || ce.Reason != reason {
		t.Fatalf("error %q is %s/%s, want %s/%s", err, ce.Class, ce.Reason, class, reason)
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("error %q contains the password", err)
	}
}

func TestServerDown(t *testing.T) {
	for _, s := range []*nats.Settings{
		{Server: "nats://" + closedAddr(t), Subject: "a", Username: "herald", Password: password},
		{Server: "nats://" + closedAddr(t), Subject: "a", Token: password, JetStream: true},
		{Server: "nats://herald:" + password + "@" + closedAddr(t), Subject: "a"},
	} {
		snd := newSender(t, s)
		_, err := snd.Send(t.Context(), message())
		checkClass(t, err, channel.ClassRetryable, "connect")
	}
}

// fakeServer starts a TCP server speaking just enough of the NATS
// protocol for the cases a real server cannot be made to produce: it
// calls serve for each connection with a reader at the client's first
// line.
func fakeServer(t *testing.T, serve func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go serve(c, bufio.NewReader(c))
		}
	}()
	return l.Addr().String()
}

const info = `INFO {"server_id":"FAKE","server_name":"fake","version":"2.10.0","proto":1,"headers":true,"max_payload":1048576,"jetstream":true}` + "\r\n"

// handshake plays the server's part of a connection up to the answer to
// the client's first PING, which is answer.
func handshake(c net.Conn, r *bufio.Reader, answer string) error {
	if _, err := c.Write([]byte(info)); err != nil {
		return err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "PING") {
			_, err := c.Write([]byte(answer))
			return err
		}
	}
}

func TestAuthRefused(t *testing.T) {
	for _, answer := range []string{"-ERR 'Authorization Violation'\r\n", "-ERR 'User Authentication Expired'\r\n"} {
		addr := fakeServer(t, func(c net.Conn, r *bufio.Reader) {
			_ = handshake(c, r, answer)
		})
		for _, s := range []*nats.Settings{
			{Server: "nats://" + addr, Subject: "a", Username: "herald", Password: password},
			{Server: "nats://" + addr, Subject: "a", Token: password},
		} {
			snd := newSender(t, s)
			_, err := snd.Send(t.Context(), message())
			checkClass(t, err, channel.ClassPermanent, "auth")
		}
	}
}

// silentServer completes the handshake, then never answers: got is
// closed when the client sent a message (PUB or HPUB).
func silentServer(t *testing.T) (string, <-chan struct{}) {
	got := make(chan struct{})
	addr := fakeServer(t, func(c net.Conn, r *bufio.Reader) {
		if handshake(c, r, "PONG\r\n") != nil {
			return
		}
		closed := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if !closed && (strings.HasPrefix(line, "PUB ") || strings.HasPrefix(line, "HPUB ")) {
				close(got)
				closed = true
			}
		}
	})
	return addr, got
}

// sendInterrupted sends m and ends ctx once got yields; Send must then
// return promptly with a retryable error of the given reason.
func sendInterrupted(t *testing.T, snd *nats.Sender, ctx context.Context, end func(), got <-chan struct{}, reason string) {
	t.Helper()
	errs := make(chan error, 1)
	go func() {
		_, err := snd.Send(ctx, message())
		errs <- err
	}()
	select {
	case <-got:
	case err := <-errs:
		t.Fatalf("Send returned before the server saw anything: %v", err)
	case <-time.After(wait):
		t.Fatal("the server never saw the message")
	}
	end()
	select {
	case err := <-errs:
		checkClass(t, err, channel.ClassRetryable, reason)
	case <-time.After(wait):
		t.Fatal("Send did not return after its context ended")
	}
}

func TestCancelWhileWaitingForTheServer(t *testing.T) {
	for _, js := range []bool{false, true} {
		addr, got := silentServer(t)
		snd := newSender(t, &nats.Settings{Server: "nats://" + addr, Subject: "a", JetStream: js})
		ctx, cancel := context.WithCancel(t.Context())
		sendInterrupted(t, snd, ctx, cancel, got, "canceled")
		cancel()
	}
}

// expiring is a context whose deadline passes when expire is called, so
// a test can make it expire at a chosen point rather than at a time.
type expiring struct {
	context.Context
	done chan struct{}
}

func (e *expiring) Done() <-chan struct{} { return e.done }

func (e *expiring) Err() error {
	select {
	case <-e.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func (e *expiring) Deadline() (time.Time, bool) { return time.Now().Add(time.Hour), true }

func TestDeadlineWhileWaitingForTheServer(t *testing.T) {
	for _, js := range []bool{false, true} {
		addr, got := silentServer(t)
		snd := newSender(t, &nats.Settings{Server: "nats://" + addr, Subject: "a", JetStream: js})
		ctx := &expiring{Context: t.Context(), done: make(chan struct{})}
		sendInterrupted(t, snd, ctx, func() { close(ctx.done) }, got, "timeout")
	}
}

func TestCancelWhileConnecting(t *testing.T) {
	got := make(chan struct{})
	addr := fakeServer(t, func(c net.Conn, r *bufio.Reader) {
		close(got) // and never send INFO
		_, _ = r.ReadString('\n')
	})
	snd := newSender(t, &nats.Settings{Server: "nats://" + addr, Subject: "a", ConnectTimeout: wait})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sendInterrupted(t, snd, ctx, cancel, got, "canceled")
}

func TestCanceledBefore(t *testing.T) {
	snd := newSender(t, &nats.Settings{Server: "nats://" + closedAddr(t), Subject: "a"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := snd.Send(ctx, message())
	checkClass(t, err, channel.ClassRetryable, "canceled")
}

func TestSendAfterClose(t *testing.T) {
	addr := testenv.NATS(t)
	snd, err := nats.New(&nats.Settings{Server: "nats://" + addr, Subject: uniqueSubject(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snd.Send(t.Context(), message()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := snd.Close(); err != nil {
		t.Fatal(err)
	}
	if err := snd.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = snd.Send(t.Context(), message())
	checkClass(t, err, channel.ClassRetryable, "closed")
}
