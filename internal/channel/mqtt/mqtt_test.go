package mqtt_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/channeltest"
	"github.com/herald-notify/herald/internal/channel/mqtt"
	"github.com/herald-notify/herald/internal/testenv"
)

// wait bounds every wait on the broker; it only fails a test when
// something is really broken.
const wait = 30 * time.Second

const password = "Hunter2Secret-mqtt"

func suffix(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// uniqueTopic returns a topic no other test (or run) publishes to.
func uniqueTopic(t *testing.T) string {
	name := strings.NewReplacer("+", "_", "#", "_", " ", "_").Replace(t.Name())
	return "herald-test/" + name + "/" + suffix(t)
}

func newSender(t *testing.T, s *mqtt.Settings) *mqtt.Sender {
	t.Helper()
	snd, err := mqtt.New(s)
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

// subscribe connects a separate paho client to the broker and subscribes
// to topic; messages arrive on the returned channel.
func subscribe(t *testing.T, addr, topic string) <-chan paho.Message {
	t.Helper()
	msgs := make(chan paho.Message, 16)
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("herald-test-sub-" + suffix(t))
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	tok := c.Subscribe(topic, 2, func(_ paho.Client, m paho.Message) { msgs <- m })
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return msgs
}

func receive(t *testing.T, msgs <-chan paho.Message) paho.Message {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(wait):
		t.Fatal("no message arrived")
		return nil
	}
}

func TestPublishEnvelope(t *testing.T) {
	addr := testenv.MQTT(t)
	topic := uniqueTopic(t)
	msgs := subscribe(t, addr, topic)
	snd := newSender(t, &mqtt.Settings{Broker: "mqtt://" + addr, Topic: topic})

	m := channeltest.Message()
	m.To = ""
	r, err := snd.Send(t.Context(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r == nil || r.Delivered || r.ProviderID != "" {
		t.Errorf("receipt = %+v, want one that is not Delivered and has no provider id", r)
	}
	got := receive(t, msgs)
	want := `{"message_id":"0195f1c2-7a3b-7c00-9d1e-000000000001","event_id":"0195f1c2-7a3b-7c00-9d1e-0000000000e1",` +
		`"event_type":"order.paid","key":"shop/order-1001","subject":"Order 1001 paid","text":"Order 1001 was paid: 42.00 EUR."}`
	if string(got.Payload()) != want {
		t.Errorf("payload = %s\nwant      %s", got.Payload(), want)
	}
	if got.Topic() != topic {
		t.Errorf("topic = %q, want %q", got.Topic(), topic)
	}
	// The subscription is QoS 2, so the delivery QoS is the publisher's.
	if got.Qos() != 1 {
		t.Errorf("QoS = %d, want the default 1", got.Qos())
	}
	if got.Retained() {
		t.Error("message was retained without retain: true")
	}
}

func TestPublishDataToRecipientQoS0And2(t *testing.T) {
	addr := testenv.MQTT(t)
	for _, qos := range []int{0, 2} {
		topic := uniqueTopic(t)
		msgs := subscribe(t, addr, topic)
		// The channel's own topic is not where the message goes: its
		// recipient is.
		snd := newSender(t, &mqtt.Settings{Broker: "tcp://" + addr, Topic: topic + "/elsewhere", QoS: &qos})
		m := channeltest.Message()
		m.To = topic
		m.Data = json.RawMessage(`{"order":1001, "total": "42.00"}`)
		if _, err := snd.Send(t.Context(), m); err != nil {
			t.Fatalf("QoS %d: Send: %v", qos, err)
		}
		got := receive(t, msgs)
		if string(got.Payload()) != string(m.Data) {
			t.Errorf("QoS %d: payload = %s, want the data as is: %s", qos, got.Payload(), m.Data)
		}
		if int(got.Qos()) != qos {
			t.Errorf("QoS = %d, want %d", got.Qos(), qos)
		}
	}
}

func TestPublishRetained(t *testing.T) {
	addr := testenv.MQTT(t)
	topic := uniqueTopic(t)
	snd := newSender(t, &mqtt.Settings{Broker: "mqtt://" + addr, Topic: topic, Retain: true})
	m := channeltest.Message()
	m.To = ""
	m.Data = json.RawMessage(`{"state":"paid"}`)
	if _, err := snd.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	t.Cleanup(func() {
		// An empty retained message clears the topic on the broker.
		c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("herald-test-clear-" + suffix(t)))
		if tok := c.Connect(); tok.WaitTimeout(wait) && tok.Error() == nil {
			c.Publish(topic, 1, true, []byte{}).WaitTimeout(wait)
			c.Disconnect(250)
		}
	})
	// Subscribing after the publish gets the message only because the
	// broker retained it.
	got := receive(t, subscribe(t, addr, topic))
	if !got.Retained() {
		t.Error("message arrived without the retain flag")
	}
	if string(got.Payload()) != `{"state":"paid"}` {
		t.Errorf("payload = %s", got.Payload())
	}
}

func TestReceiptAndCapabilities(t *testing.T) {
	snd := newSender(t, &mqtt.Settings{Broker: "tcp://127.0.0.1:1", Topic: "a"})
	if c := snd.Capabilities(); c != (channel.Capabilities{}) {
		t.Errorf("Capabilities = %+v, want none", c)
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

func checkClass(t *testing.T, err error, class channel.Class, reason string) *channel.Error {
	t.Helper()
	var ce *channel.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *channel.Error", err, err)
	}
	if ce.Class != class || (reason != "" && ce.Reason != reason) {
		t.Fatalf("error %q is %s/%s, want %s/%s", err, ce.Class, ce.Reason, class, reason)
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("error %q contains the password", err)
	}
	return ce
}

func TestBrokerDown(t *testing.T) {
	snd := newSender(t, &mqtt.Settings{
		Broker: "mqtt://" + closedAddr(t), Topic: "a", Username: "herald", Password: password,
	})
	_, err := snd.Send(t.Context(), channeltest.Message())
	checkClass(t, err, channel.ClassRetryable, "connect")
}

func TestBrokerDownCredentialsInBrokerURL(t *testing.T) {
	snd := newSender(t, &mqtt.Settings{Broker: "tcp://herald:" + password + "@" + closedAddr(t), Topic: "a"})
	_, err := snd.Send(t.Context(), channeltest.Message())
	checkClass(t, err, channel.ClassRetryable, "connect")
}

func TestInvalidTopicIsPermanent(t *testing.T) {
	// Nothing listens: a connection attempt would fail as "connect".
	snd := newSender(t, &mqtt.Settings{Broker: "tcp://" + closedAddr(t)})
	for _, topic := range []string{"a/+", "a/#", "#", "a\x00", "\xff", strings.Repeat("t", 65536)} {
		m := channeltest.Message()
		m.To = topic
		_, err := snd.Send(t.Context(), m)
		checkClass(t, err, channel.ClassPermanent, "invalid_topic")
	}
	m := channeltest.Message()
	m.To = ""
	_, err := snd.Send(t.Context(), m)
	checkClass(t, err, channel.ClassPermanent, "no_topic")
}

func TestPayloadTooLarge(t *testing.T) {
	snd := newSender(t, &mqtt.Settings{Broker: "tcp://" + closedAddr(t), Topic: "a", MaxPayload: 16})
	m := channeltest.Message()
	m.Data = json.RawMessage(`{"text":"more than sixteen bytes"}`)
	_, err := snd.Send(t.Context(), m)
	checkClass(t, err, channel.ClassPermanent, "payload_too_large")
}

func TestNilMessage(t *testing.T) {
	snd := newSender(t, &mqtt.Settings{Broker: "tcp://" + closedAddr(t), Topic: "a"})
	_, err := snd.Send(t.Context(), nil)
	checkClass(t, err, channel.ClassPermanent, "invalid_message")
}

func TestNewRejectsInvalidSettings(t *testing.T) {
	if _, err := mqtt.New(&mqtt.Settings{Topic: "a"}); err == nil {
		t.Error("New without a broker succeeded")
	}
	if _, err := mqtt.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := mqtt.New(&mqtt.Settings{Broker: "ssl://h", CAFile: "/nonexistent/ca.pem"}); err == nil {
		t.Error("New with a missing ca_file succeeded")
	}
}

// fakeBroker starts a TCP server speaking just enough MQTT for the cases
// a real broker cannot be made to produce: it calls serve for each
// connection (numbered from 0), with a reader at its first packet.
func fakeBroker(t *testing.T, serve func(n int, c net.Conn, r *bufio.Reader)) string {
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
		for n := 0; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go serve(n, c, bufio.NewReader(c))
		}
	}()
	return l.Addr().String()
}

// readPacket reads one MQTT control packet and returns its type (the high
// nibble of the first byte) and body.
func readPacket(r *bufio.Reader) (byte, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	var n, mult int = 0, 1
	for i := 0; i < 4; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		mult *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return h >> 4, body, nil
}

// connack answers a CONNECT with the given return code (MQTT 3.1.1
// section 3.2: type 2, remaining length 2, no session, the code).
func connack(c net.Conn, r *bufio.Reader, code byte) error {
	typ, _, err := readPacket(r)
	if err != nil {
		return err
	}
	if typ != 1 {
		return errors.New("first packet is not CONNECT")
	}
	_, err = c.Write([]byte{0x20, 0x02, 0x00, code})
	return err
}

func TestConnackRefusals(t *testing.T) {
	tests := []struct {
		code   byte
		class  channel.Class
		reason string
	}{
		{1, channel.ClassPermanent, "protocol"},
		{2, channel.ClassPermanent, "client_id_rejected"},
		{3, channel.ClassRetryable, "unavailable"},
		{4, channel.ClassPermanent, "auth"},
		{5, channel.ClassPermanent, "auth"},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			addr := fakeBroker(t, func(_ int, c net.Conn, r *bufio.Reader) {
				_ = connack(c, r, tt.code)
			})
			snd := newSender(t, &mqtt.Settings{Broker: "tcp://" + addr, Topic: "a", Username: "herald", Password: password})
			_, err := snd.Send(t.Context(), channeltest.Message())
			checkClass(t, err, tt.class, tt.reason)
		})
	}
}

// TestConnectsOnALaterSend checks the lazy connection: a refused first
// attempt does not make the sender unusable.
func TestConnectsOnALaterSend(t *testing.T) {
	published := make(chan []byte, 1)
	addr := fakeBroker(t, func(n int, c net.Conn, r *bufio.Reader) {
		if n == 0 {
			_ = connack(c, r, 3) // server unavailable
			return
		}
		if connack(c, r, 0) != nil {
			return
		}
		for {
			typ, body, err := readPacket(r)
			if err != nil {
				return
			}
			if typ == 3 { // PUBLISH, QoS 1: topic, packet id, payload
				tl := int(body[0])<<8 | int(body[1])
				id := body[2+tl : 4+tl]
				published <- body[4+tl:]
				_, _ = c.Write([]byte{0x40, 0x02, id[0], id[1]}) // PUBACK
			}
		}
	})
	snd := newSender(t, &mqtt.Settings{Broker: "tcp://" + addr, Topic: "a"})
	_, err := snd.Send(t.Context(), channeltest.Message())
	checkClass(t, err, channel.ClassRetryable, "unavailable")
	m := channeltest.Message()
	m.Data = json.RawMessage(`{"n":2}`)
	m.To = ""
	if _, err := snd.Send(t.Context(), m); err != nil {
		t.Fatalf("second Send: %v", err)
	}
	select {
	case p := <-published:
		if string(p) != `{"n":2}` {
			t.Errorf("payload = %s", p)
		}
	case <-time.After(wait):
		t.Fatal("the broker never got the PUBLISH")
	}
}

// sendCanceled sends with a context that is canceled once got yields,
// and checks that Send ends with a retryable "canceled" error.
func sendCanceled(t *testing.T, snd *mqtt.Sender, got <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errs := make(chan error, 1)
	go func() {
		_, err := snd.Send(ctx, channeltest.Message())
		errs <- err
	}()
	select {
	case <-got:
	case err := <-errs:
		t.Fatalf("Send returned before the broker saw anything: %v", err)
	case <-time.After(wait):
		t.Fatal("the broker never saw the packet")
	}
	cancel()
	select {
	case err := <-errs:
		checkClass(t, err, channel.ClassRetryable, "canceled")
	case <-time.After(wait):
		t.Fatal("Send did not return after its context was canceled")
	}
}

func TestCancelWhileWaitingForPuback(t *testing.T) {
	got := make(chan struct{})
	addr := fakeBroker(t, func(_ int, c net.Conn, r *bufio.Reader) {
		if connack(c, r, 0) != nil {
			return
		}
		for {
			typ, _, err := readPacket(r)
			if err != nil {
				return
			}
			if typ == 3 {
				close(got) // and never acknowledge it
			}
		}
	})
	sendCanceled(t, newSender(t, &mqtt.Settings{Broker: "tcp://" + addr, Topic: "a"}), got)
}

func TestCancelWhileConnecting(t *testing.T) {
	got := make(chan struct{})
	addr := fakeBroker(t, func(_ int, c net.Conn, r *bufio.Reader) {
		if typ, _, err := readPacket(r); err == nil && typ == 1 {
			close(got) // and never answer the CONNECT
		}
		_, _ = io.Copy(io.Discard, r)
	})
	snd := newSender(t, &mqtt.Settings{Broker: "tcp://" + addr, Topic: "a", ConnectTimeout: wait})
	sendCanceled(t, snd, got)
}

func TestCanceledBefore(t *testing.T) {
	snd := newSender(t, &mqtt.Settings{Broker: "tcp://" + closedAddr(t), Topic: "a"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := snd.Send(ctx, channeltest.Message())
	checkClass(t, err, channel.ClassRetryable, "canceled")
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

func TestDeadlineWhileWaitingForPuback(t *testing.T) {
	got := make(chan struct{})
	addr := fakeBroker(t, func(_ int, c net.Conn, r *bufio.Reader) {
		if connack(c, r, 0) != nil {
			return
		}
		for {
			typ, _, err := readPacket(r)
			if err != nil {
				return
			}
			if typ == 3 {
				close(got) // and never acknowledge it
			}
		}
	})
	snd := newSender(t, &mqtt.Settings{Broker: "tcp://" + addr, Topic: "a"})
	ctx := &expiring{Context: t.Context(), done: make(chan struct{})}
	errs := make(chan error, 1)
	go func() {
		_, err := snd.Send(ctx, channeltest.Message())
		errs <- err
	}()
	select {
	case <-got:
	case <-time.After(wait):
		t.Fatal("the broker never saw the PUBLISH")
	}
	close(ctx.done)
	select {
	case err := <-errs:
		checkClass(t, err, channel.ClassRetryable, "timeout")
	case <-time.After(wait):
		t.Fatal("Send did not return after its deadline passed")
	}
}

func TestSendAfterClose(t *testing.T) {
	snd, err := mqtt.New(&mqtt.Settings{Broker: "tcp://" + closedAddr(t), Topic: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Close(); err != nil {
		t.Fatal(err)
	}
	if err := snd.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = snd.Send(t.Context(), channeltest.Message())
	checkClass(t, err, channel.ClassRetryable, "closed")
}
