// Package nats publishes messages to NATS: with core NATS, or to a
// JetStream stream with de-duplication of retried attempts.
//
// A Sender holds one connection per channel and per Herald node. It
// connects lazily, on the first Send, so that a server that is down when
// Herald starts does not stop Herald from starting: that Send fails
// retryably and a later one connects. Once connected, nats.go reconnects
// by itself (forever, to any server of the list); while it does, Send
// fails retryably instead of buffering the message in memory, where a
// retry by the engine would later send it a second time.
//
// Core NATS: Send publishes and then flushes with a PING the server must
// answer, within the attempt's context, so success means the server has
// the message. Core NATS keeps nothing: subscribers that are not there
// miss it (at most once).
//
// JetStream: Send publishes with the message's idempotency key as
// Nats-Msg-Id and waits for the stream's acknowledgement. An attempt
// retried after a lost acknowledgement carries the same id, and the
// stream drops it as a duplicate within its duplicate window (two minutes
// by default), so the stream holds each message once.
package nats

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald-notify/herald/internal/channel"
)

// flushTimeout bounds a core publish's flush when the attempt's context
// has no deadline (nats.go requires one).
const flushTimeout = 30 * time.Second

// Sender publishes messages to one NATS system. It is safe for concurrent
// use.
type Sender struct {
	servers   string // the server URLs without credentials
	opts      []natsgo.Option
	dialer    *dialer
	subject   string
	jetstream bool
	secrets   []string // scrubbed from error texts

	mu      sync.Mutex
	nc      *natsgo.Conn
	js      jetstream.JetStream
	attempt *attempt // the connection attempt in progress, if any
	closed  bool
}

// attempt is one connection attempt, shared by the sends that wait for it.
type attempt struct {
	done chan struct{}
	err  error // set before done is closed
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender for the settings. It does not connect: the first
// Send does (see the package comment).
func New(s *Settings) (*Sender, error) {
	if s == nil {
		return nil, errors.New("nats: nil settings")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	us, err := serverURLs(s.Server)
	if err != nil {
		return nil, fmt.Errorf("nats: server: %w", err)
	}
	username, password, token := s.Username, s.Password.Value(), s.Token.Value()
	servers := make([]string, len(us))
	for i, u := range us {
		// Credentials in a server URL are used when the fields set none,
		// and kept out of the URLs nats.go reports.
		if u.User != nil && username == "" && token == "" && s.CredsFile == "" {
			if p, ok := u.User.Password(); ok {
				username, password = u.User.Username(), p
			} else {
				token = u.User.Username()
			}
		}
		u.User = nil
		servers[i] = u.String()
	}
	timeout := s.ConnectTimeout
	if timeout == 0 {
		timeout = DefaultConnectTimeout
	}
	name := s.Name
	if name == "" {
		name = DefaultName
	}
	d := newDialer(timeout)
	opts := []natsgo.Option{
		natsgo.Name(name),
		natsgo.Timeout(timeout),
		natsgo.SetCustomDialer(d),
		natsgo.MaxReconnects(-1),
		// No buffering while reconnecting: a publish then fails and the
		// engine retries it, instead of nats.go sending it later too.
		natsgo.ReconnectBufSize(-1),
		// The engine owns retries; nats.go's own first-connect retry would
		// hide a down server behind a connection that looks fine.
		natsgo.RetryOnFailedConnect(false),
		natsgo.NoEcho(),
	}
	switch {
	case username != "":
		opts = append(opts, natsgo.UserInfo(username, password))
	case token != "":
		opts = append(opts, natsgo.Token(token))
	case s.CredsFile != "":
		opts = append(opts, natsgo.UserCredentials(s.CredsFile))
	}
	if s.InsecureSkipVerify {
		opts = append(opts, natsgo.Secure(&tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}))
	}
	if s.CAFile != "" {
		opts = append(opts, natsgo.RootCAs(s.CAFile))
	}
	snd := &Sender{
		servers:   strings.Join(servers, ","),
		opts:      opts,
		dialer:    d,
		subject:   s.Subject,
		jetstream: s.JetStream,
	}
	for _, v := range []string{password, token} {
		if v != "" {
			snd.secrets = append(snd.secrets, v)
		}
	}
	return snd, nil
}

// Capabilities implements channel.Describer: any payload up to the
// server's max_payload goes (checked when sending, as the limit is only
// known once connected), and nothing is reported back later.
func (s *Sender) Capabilities() channel.Capabilities {
	return channel.Capabilities{}
}

// Send publishes m. See the package comment for what success means.
//
// The receipt is never Delivered. With JetStream its ProviderID is
// "<stream>/<sequence>" and its Response the stream's acknowledgement as
// JSON ({"stream":…,"seq":…,"duplicate":true} for an attempt the stream
// already had); core NATS gives no id.
func (s *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	if m == nil {
		return nil, channel.Permanent("invalid_message", 0, errors.New("nats: nil message"))
	}
	subject := m.To
	if subject == "" {
		subject = s.subject
	}
	if subject == "" {
		return nil, channel.Permanent("no_subject", 0, errors.New("nats: the channel has no subject and the message no recipient"))
	}
	if err := CheckSubject(subject); err != nil {
		return nil, channel.Permanent("invalid_subject", 0, fmt.Errorf("nats: %w", err))
	}
	payload, err := Payload(m)
	if err != nil {
		return nil, channel.Permanent("invalid_message", 0, fmt.Errorf("nats: encode message: %w", err))
	}
	if err := ctx.Err(); err != nil {
		return nil, s.classify("before publishing", err)
	}
	nc, js, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	if s.jetstream {
		return s.publishJetStream(ctx, js, subject, payload, m)
	}
	if err := nc.Publish(subject, payload); err != nil {
		return nil, s.classify("publish", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		return nil, s.classify("flush", err)
	}
	return &channel.Receipt{}, nil
}

// publishJetStream publishes to a stream with the idempotency key as the
// message id and reports the stream's acknowledgement.
func (s *Sender) publishJetStream(ctx context.Context, js jetstream.JetStream, subject string, payload []byte, m *channel.Message) (*channel.Receipt, error) {
	id := m.IdempotencyKey
	if id == "" {
		id = m.ID
	}
	var opts []jetstream.PublishOpt
	if id != "" {
		opts = append(opts, jetstream.WithMsgID(id))
	}
	ack, err := js.Publish(ctx, subject, payload, opts...)
	if err != nil {
		return nil, s.classify("jetstream publish", err)
	}
	// A PubAck always encodes.
	resp, _ := json.Marshal(ack)
	return &channel.Receipt{
		ProviderID: ack.Stream + "/" + strconv.FormatUint(ack.Sequence, 10),
		Response:   resp,
	}, nil
}

// connect returns the connection, making it on the first call. Concurrent
// sends share one attempt, and a send whose ctx ends leaves the attempt
// running for the next one.
func (s *Sender) connect(ctx context.Context) (*natsgo.Conn, jetstream.JetStream, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, channel.Retryable("closed", 0, errors.New("nats: sender is closed"))
	}
	if s.nc != nil && s.nc.IsClosed() {
		// nats.go gave up on it (the server refused the credentials on
		// a reconnect, say): start afresh.
		s.nc, s.js = nil, nil
	}
	if s.nc != nil {
		nc, js := s.nc, s.js
		s.mu.Unlock()
		return nc, js, nil
	}
	a := s.attempt
	if a == nil {
		a = &attempt{done: make(chan struct{})}
		s.attempt = a
		go s.dial(a)
	}
	s.mu.Unlock()

	select {
	case <-a.done:
	case <-ctx.Done():
		return nil, nil, s.classify("connect", ctx.Err())
	}
	if a.err != nil {
		return nil, nil, s.classify("connect to "+s.servers, a.err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc == nil {
		// Closed meanwhile.
		return nil, nil, channel.Retryable("closed", 0, errors.New("nats: sender is closed"))
	}
	return s.nc, s.js, nil
}

// dial makes one connection attempt and records its outcome.
func (s *Sender) dial(a *attempt) {
	nc, err := natsgo.Connect(s.servers, s.opts...)
	var js jetstream.JetStream
	if err == nil {
		js, err = jetstream.New(nc)
		if err != nil {
			nc.Close()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempt = nil
	switch {
	case err != nil:
		a.err = err
	case s.closed:
		nc.Close()
		a.err = errors.New("sender is closed")
	default:
		s.nc, s.js = nc, js
	}
	close(a.done)
}

// classify turns a nats.go error into a classified one without secrets:
//
//   - the attempt's context ended: retryable "canceled" or "timeout";
//   - the server refused the credentials or the permission: permanent
//     "auth" or "permission" (only configuration can fix them);
//   - no stream listens on the subject (JetStream "no responders"):
//     permanent "no_stream", a configuration problem retries cannot fix;
//   - the payload exceeds the server's max_payload or the stream's
//     max_msg_size: permanent "payload_too_large";
//   - any other JetStream API error: retryable when the server says it is
//     unavailable (5xx), permanent otherwise;
//   - no server reachable, connection lost or reconnecting, a timeout:
//     retryable.
func (s *Sender) classify(op string, err error) error {
	werr := fmt.Errorf("nats: %s: %w", op, err)
	var apiErr *jetstream.APIError
	var out error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		out = channel.ClassifyNetError(werr)
	case errors.Is(err, natsgo.ErrAuthorization), errors.Is(err, natsgo.ErrAuthExpired),
		errors.Is(err, natsgo.ErrAuthRevoked), errors.Is(err, natsgo.ErrAccountAuthExpired),
		errors.Is(err, natsgo.ErrNkeysNotSupported), authRefusal(err):
		out = channel.Permanent("auth", 0, werr)
	case errors.Is(err, natsgo.ErrPermissionViolation):
		out = channel.Permanent("permission", 0, werr)
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, natsgo.ErrNoResponders):
		out = channel.Permanent("no_stream", 0, fmt.Errorf("nats: %s: no JetStream stream takes this subject: %w", op, err))
	case errors.Is(err, natsgo.ErrMaxPayload):
		out = channel.Permanent("payload_too_large", 0, werr)
	case errors.Is(err, natsgo.ErrBadSubject), errors.Is(err, jetstream.ErrInvalidSubject):
		out = channel.Permanent("invalid_subject", 0, werr)
	case errors.As(err, &apiErr):
		switch {
		case apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum:
			out = channel.Permanent("payload_too_large", apiErr.Code, werr)
		case apiErr.Code >= 500:
			out = channel.Retryable("jetstream_unavailable", apiErr.Code, werr)
		default:
			out = channel.Permanent("jetstream_rejected", apiErr.Code, werr)
		}
	case errors.Is(err, natsgo.ErrReconnectBufExceeded), errors.Is(err, natsgo.ErrConnectionReconnecting):
		out = channel.Retryable("not_connected", 0, fmt.Errorf("nats: %s: not connected (reconnecting): %w", op, err))
	case errors.Is(err, natsgo.ErrConnectionClosed), errors.Is(err, natsgo.ErrConnectionDraining):
		out = channel.Retryable("connection", 0, werr)
	case errors.Is(err, natsgo.ErrTimeout):
		out = channel.Retryable("timeout", 0, werr)
	case errors.Is(err, natsgo.ErrNoServers):
		out = channel.Retryable("connect", 0, werr)
	default:
		out = channel.ClassifyNetError(werr)
	}
	return s.scrub(out)
}

// authRefusals are the server's -ERR texts that refuse the credentials
// (nats.go's auth error prefixes, lower-cased).
var authRefusals = []string{
	"authorization violation",
	"user authentication expired",
	"user authentication revoked",
	"account authentication expired",
}

// authRefusal reports whether err is the server refusing the credentials
// while connecting. nats.go returns the server's -ERR text there, which
// errors.Is matches to its sentinels only for "Authorization Violation":
// "User Authentication Expired" is not "nats: authentication expired".
func authRefusal(err error) bool {
	text := strings.ToLower(err.Error())
	for _, r := range authRefusals {
		if strings.HasPrefix(text, "nats: "+r) {
			return true
		}
	}
	return false
}

// scrub removes the password and token from an error's text, keeping its
// class. nats.go's errors do not carry them, but a server error quoting
// the connection must not be the one that leaks them.
func (s *Sender) scrub(err error) error {
	text := err.Error()
	leaked := false
	for _, v := range s.secrets {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, "redacted")
			leaked = true
		}
	}
	if !leaked {
		return err
	}
	var ce *channel.Error
	if errors.As(err, &ce) {
		c := *ce
		c.Err = errors.New(text)
		return &c
	}
	return channel.Retryable("network", 0, errors.New(text))
}

// Close closes the connection, after sending what it buffered, and stops
// nats.go's reconnecting; a connection attempt in progress is cut short.
// Sends after Close fail retryably. Close must be called at shutdown: the
// connection and its goroutines live until then.
func (s *Sender) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	nc, a := s.nc, s.attempt
	s.nc, s.js = nil, nil
	s.mu.Unlock()
	if a != nil {
		s.dialer.abort()
		<-a.done
	}
	if nc != nil {
		nc.Close()
	}
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
