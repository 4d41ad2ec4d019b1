// Package mqtt publishes messages to an MQTT broker (MQTT 3.1.1, through
// the Eclipse paho client).
//
// A Sender holds one connection per channel and per Herald node. It
// connects lazily, on the first Send, so that a broker that is down when
// Herald starts does not stop Herald from starting: that Send fails
// retryably and a later one connects. Once connected, paho reconnects by
// itself after a lost connection (with a backoff of up to 30 seconds);
// while it does, Send fails retryably with "not_connected" instead of
// queueing the message in paho's memory, where a retry by the engine would
// later send it a second time.
//
// A message is published to its recipient (Message.To) or the channel's
// topic, with the channel's QoS (1 by default) and retain flag. With QoS 1
// or 2, Send returns when the broker acknowledged the message (PUBACK or
// PUBCOMP); with QoS 0, when it was written to the connection. MQTT 3.1.1
// has no message headers, so a consumer that must drop the duplicates an
// at-least-once retry can cause should use the envelope's message_id.
package mqtt

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/herald-notify/herald/internal/channel"
)

// maxReconnectInterval caps paho's reconnect backoff (its default is ten
// minutes, far longer than an attempt's retry schedule).
const maxReconnectInterval = 30 * time.Second

// disconnectQuiesce is how long Close lets in-flight work finish.
const disconnectQuiesce = 250 // milliseconds

// Sender publishes messages to one broker. It is safe for concurrent use.
type Sender struct {
	client     paho.Client
	dialer     *dialer
	broker     string // redacted, for error texts
	topic      string
	qos        byte
	retain     bool
	maxPayload int
	password   string // scrubbed from error texts

	mu      sync.Mutex
	connTok paho.Token // the connection attempt in progress, if any
	closed  bool
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. It does not connect: the first
// Send does (see the package comment).
func New(s *Settings) (*Sender, error) {
	if s == nil {
		return nil, errors.New("mqtt: nil settings")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	u, err := brokerURL(s.Broker)
	if err != nil {
		return nil, fmt.Errorf("mqtt: broker: %w", err)
	}
	username, password := s.Username, s.Password.Value()
	if u.User != nil {
		// Credentials in the broker URL are used when the fields are not
		// set, and kept out of the address paho logs and dials.
		if username == "" {
			username = u.User.Username()
			password, _ = u.User.Password()
		}
		u.User = nil
	}
	clientID := s.ClientID
	if clientID == "" {
		clientID, err = randomClientID()
		if err != nil {
			return nil, fmt.Errorf("mqtt: client id: %w", err)
		}
	}
	timeout := s.ConnectTimeout
	if timeout == 0 {
		timeout = DefaultConnectTimeout
	}
	opts := paho.NewClientOptions().
		AddBroker(u.String()).
		SetClientID(clientID).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(false).
		SetMaxReconnectInterval(maxReconnectInterval).
		SetConnectTimeout(timeout).
		SetOrderMatters(false)
	d := newDialer(timeout)
	opts.SetCustomOpenConnectionFn(d.open)
	if username != "" {
		opts.SetUsername(username)
		opts.SetPassword(password)
	}
	if u.Scheme == "ssl" || u.Scheme == "wss" || s.CAFile != "" || s.InsecureSkipVerify {
		cfg, err := tlsConfig(s)
		if err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
		opts.SetTLSConfig(cfg)
	}
	return &Sender{
		client:     paho.NewClient(opts),
		dialer:     d,
		broker:     u.Redacted(),
		topic:      s.Topic,
		qos:        s.qos(),
		retain:     s.Retain,
		maxPayload: s.MaxPayload,
		password:   password,
	}, nil
}

// tlsConfig builds the TLS configuration for ssl:// and wss:// brokers.
func tlsConfig(s *Settings) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.InsecureSkipVerify}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", s.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// randomClientID returns "herald-" and 12 random hex digits: short enough
// for brokers that keep to MQTT 3.1.1's 23-character minimum guarantee.
func randomClientID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return ClientIDPrefix + hex.EncodeToString(b[:]), nil
}

// Capabilities implements channel.Describer: any payload goes, and the
// broker reports nothing once it has accepted a message.
func (s *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{}
}

// Send publishes m and waits, within ctx, for the broker's acknowledgement.
// The receipt is never Delivered (subscribers do not report back) and has
// no ProviderID: the MQTT packet id is reused by the connection and means
// nothing once acknowledged.
func (s *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("mqtt: nil message"))
	}
	topic := m.To
	if topic == "" {
		topic = s.topic
	}
	if topic == "" {
		return nil, channel.Permanent("no_topic", 0, errors.New("mqtt: the channel has no topic and the message no recipient"))
	}
	if err := CheckTopic(topic); err != nil {
		return nil, channel.Permanent("invalid_topic", 0, fmt.Errorf("mqtt: %w", err))
	}
	payload, err := Payload(m)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("mqtt: encode message: %w", err))
	}
	if err := s.checkSize(topic, payload); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err, "before publishing")
	}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	if !s.client.IsConnectionOpen() {
		return nil, channel.Retryable("not_connected", 0, fmt.Errorf("mqtt: not connected to %s (reconnecting)", s.broker))
	}

	// Publish itself can block (up to paho's write timeout) when the
	// connection is congested, so it runs aside and ctx is honoured.
	toks := make(chan paho.Token, 1)
	go func() { toks <- s.client.Publish(topic, s.qos, s.retain, payload) }()
	var tok paho.Token
	select {
	case tok = <-toks:
	case <-ctx.Done():
		return nil, ctxError(ctx.Err(), "while publishing")
	}
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return nil, ctxError(ctx.Err(), "waiting for the broker's acknowledgement")
	}
	if err := tok.Error(); err != nil {
		return nil, s.scrub(publishError(err))
	}
	return &channel.Receipt{}, nil
}

// checkSize refuses a payload that cannot fit in one MQTT packet or that
// exceeds the configured broker limit.
func (s *Sender) checkSize(topic string, payload []byte) error {
	limit := maxRemainingLength - 2 - len(topic)
	if s.qos > 0 {
		limit -= 2 // packet id
	}
	if s.maxPayload > 0 && s.maxPayload < limit {
		limit = s.maxPayload
	}
	if len(payload) > limit {
		return channel.Permanent("payload_too_large", 0, fmt.Errorf("mqtt: payload is %d bytes, more than the %d allowed", len(payload), limit))
	}
	return nil
}

// connect makes sure a connection was established once; after that paho
// keeps it up by itself. Concurrent sends share one attempt, and a send
// whose ctx ends leaves the attempt running for the next one.
func (s *Sender) connect(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return channel.Retryable("closed", 0, errors.New("mqtt: sender is closed"))
	}
	if s.connTok != nil {
		select {
		case <-s.connTok.Done():
			// An attempt whose sender gave up on it: a success shows in
			// IsConnected, a failure is stale and a new attempt is due.
			s.connTok = nil
		default:
		}
	}
	if s.connTok == nil && s.client.IsConnected() {
		// Connected, or reconnecting on its own.
		s.mu.Unlock()
		return nil
	}
	if s.connTok == nil {
		s.connTok = s.startConnect(ctx)
	}
	tok := s.connTok
	s.mu.Unlock()

	select {
	case <-tok.Done():
	case <-ctx.Done():
		return ctxError(ctx.Err(), "while connecting to "+s.broker)
	}
	s.mu.Lock()
	if s.connTok == tok {
		s.connTok = nil
	}
	s.mu.Unlock()
	if err := tok.Error(); err != nil {
		var code byte = packets.ErrNetworkError
		if ct, ok := tok.(*paho.ConnectToken); ok {
			code = ct.ReturnCode()
		}
		return s.scrub(connectError(s.broker, code, err))
	}
	return nil
}

// statusRace is the text of paho's refusal to connect while the client
// is not yet marked disconnected (the error is unexported).
const statusRace = "status can only transition to connecting from disconnected"

// startConnect starts a connection attempt. paho completes a failed
// attempt's token just before it marks the client disconnected, so an
// attempt started right after a failure can be refused for a moment;
// startConnect tries again for up to 100ms rather than report an error
// that only means "too soon".
func (s *Sender) startConnect(ctx context.Context) paho.Token {
	var tok paho.Token
	for range 100 {
		tok = s.client.Connect()
		if !refusedTooSoon(tok) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return tok
}

// refusedTooSoon reports whether Connect refused at once because the
// previous attempt had not finished winding down.
func refusedTooSoon(tok paho.Token) bool {
	select {
	case <-tok.Done():
		return tok.Error() != nil && tok.Error().Error() == statusRace
	default:
		return false
	}
}

// connectError classifies a failed connection: a broker that refuses the
// credentials, the client id or the protocol is a configuration problem
// (permanent); an unavailable broker or a network failure is retryable.
func connectError(broker string, code byte, err error) error {
	werr := fmt.Errorf("mqtt: connect to %s: %w", broker, err)
	switch code {
	case packets.ErrRefusedBadUsernameOrPassword:
		return channel.Permanent("auth", 0, fmt.Errorf("mqtt: connect to %s: the broker refused the user name or password (CONNACK 4)", broker))
	case packets.ErrRefusedNotAuthorised:
		return channel.Permanent("auth", 0, fmt.Errorf("mqtt: connect to %s: the broker said not authorized (CONNACK 5)", broker))
	case packets.ErrRefusedIDRejected:
		return channel.Permanent("client_id_rejected", 0, fmt.Errorf("mqtt: connect to %s: the broker rejected the client id (CONNACK 2)", broker))
	case packets.ErrRefusedBadProtocolVersion:
		return channel.Permanent("protocol", 0, fmt.Errorf("mqtt: connect to %s: the broker does not speak MQTT 3.1.1 (CONNACK 1)", broker))
	case packets.ErrRefusedServerUnavailable:
		return channel.Retryable("unavailable", 0, fmt.Errorf("mqtt: connect to %s: the broker is unavailable (CONNACK 3)", broker))
	case packets.ErrProtocolViolation:
		return channel.Retryable("protocol", 0, werr)
	}
	return channel.ClassifyNetError(werr)
}

// publishError classifies a publish that paho completed with an error:
// all of them are about the connection, so all are retryable.
func publishError(err error) error {
	werr := fmt.Errorf("mqtt: publish: %w", err)
	if errors.Is(err, paho.ErrNotConnected) {
		return channel.Retryable("not_connected", 0, werr)
	}
	if strings.Contains(err.Error(), "connection lost") {
		return channel.Retryable("connection", 0, werr)
	}
	return channel.ClassifyNetError(werr)
}

// ctxError is the retryable error for an attempt whose context ended.
func ctxError(err error, when string) error {
	return channel.ClassifyNetError(fmt.Errorf("mqtt: %s: %w", when, err))
}

// scrub removes the password from an error's text, keeping its class.
// paho's errors do not carry it, but a broker or dialer error quoting the
// connection must not be the one that leaks it.
func (s *Sender) scrub(err error) error {
	if s.password == "" || err == nil || !strings.Contains(err.Error(), s.password) {
		return err
	}
	text := strings.ReplaceAll(err.Error(), s.password, "redacted")
	var ce *channel.Error
	if errors.As(err, &ce) {
		c := *ce
		c.Err = errors.New(text)
		return &c
	}
	return channel.Retryable("network", 0, errors.New(text))
}

// Close disconnects from the broker, letting in-flight acknowledgements
// arrive for a moment, and stops paho's reconnecting. Sends after Close
// fail retryably. Close must be called at shutdown: the connection and its
// goroutines live until then.
func (s *Sender) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	tok := s.connTok
	s.mu.Unlock()
	if tok != nil {
		// A connection attempt in progress is cut short (paho would
		// otherwise wait for the broker up to the connect timeout) and
		// waited for, so no goroutine outlives Close.
		s.dialer.abort()
		tok.Wait()
	}
	s.client.Disconnect(disconnectQuiesce)
	s.dialer.abort()
	return nil
}

// Envelope is the payload of a message without Data: the message's
// identifiers and text, empty fields left out.
type Envelope struct {
	MessageID string `json:"message_id,omitempty"`
	EventID   string `json:"event_id,omitempty"`
	EventType string `json:"event_type,omitempty"`
	Key       string `json:"key,omitempty"`
	Subject   string `json:"subject,omitempty"`
	Text      string `json:"text,omitempty"`
}

// Payload returns what is published for m: its Data as is when set (a
// template already chose the JSON consumers want), otherwise the JSON
// Envelope.
func Payload(m *channel.Message) ([]byte, error) {
	if len(m.Data) > 0 {
		return m.Data, nil
	}
	return json.Marshal(Envelope{
		MessageID: m.ID,
		EventID:   m.EventID,
		EventType: m.EventType,
		Key:       m.Key,
		Subject:   m.Subject,
		Text:      m.Text,
	})
}
