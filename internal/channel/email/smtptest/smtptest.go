// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp)
// in the test process, so that mail delivery is tested against the
// protocol rather than a mock: plain, STARTTLS or implicit TLS with a
// self-signed certificate made for the test, optional AUTH PLAIN, and
// hooks that answer RCPT or DATA with any SMTP reply.
package smtptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLS modes of a test server.
const (
	// TLSNone serves plain SMTP and allows AUTH without TLS.
	TLSNone = "none"
	// TLSStartTLS advertises STARTTLS and allows AUTH only after it.
	TLSStartTLS = "starttls"
	// TLSImplicit serves SMTP inside TLS from the first byte (SMTPS).
	TLSImplicit = "tls"
)

// Options configure a test server. The zero value is a plain server that
// accepts every message.
type Options struct {
	// TLS is TLSNone (default), TLSStartTLS or TLSImplicit.
	TLS string
	// Username and Password, when Username is set, make the server
	// require AUTH PLAIN with exactly these credentials before MAIL.
	Username, Password string
	// Rcpt, when set, is called for each RCPT TO; a non-nil error (see
	// Reply) is the server's answer.
	Rcpt func(to string) error
	// Data, when set, is called with each complete message before it is
	// accepted; a non-nil error (see Reply) rejects it.
	Data func(m Message) error
}

// Message is a message the server accepted.
type Message struct {
	// From is the envelope sender (MAIL FROM).
	From string
	// To are the envelope recipients (RCPT TO).
	To []string
	// Data is the message as transmitted: headers and body.
	Data []byte
	// TLS tells whether the session was encrypted.
	TLS bool
	// Auth is the user name the session authenticated as, if any.
	Auth string
}

// Reply returns an error that makes the server answer with the given SMTP
// code and text, e.g. Reply(451, "try again later").
func Reply(code int, text string) error {
	return &smtp.SMTPError{
		Code:         code,
		EnhancedCode: smtp.EnhancedCodeNotSet,
		Message:      text,
	}
}

// Server is a running test SMTP server.
type Server struct {
	opts Options
	srv  *smtp.Server
	addr *net.TCPAddr
	cert *x509.Certificate
	pem  []byte

	mu       sync.Mutex
	messages []Message
	changed  chan struct{} // closed and replaced on every new message
	authFail int
}

// Start starts a server on a loopback port; it stops when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.TLS == "" {
		opts.TLS = TLSNone
	}
	s := &Server{opts: opts, changed: make(chan struct{})}
	s.srv = smtp.NewServer(smtp.BackendFunc(s.newSession))
	s.srv.Domain = "localhost"
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.AllowInsecureAuth = opts.TLS == TLSNone

	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.addr = raw.Addr().(*net.TCPAddr)
	conns := &sync.WaitGroup{}
	var ln net.Listener = &trackingListener{Listener: raw, conns: conns}

	switch opts.TLS {
	case TLSNone:
	case TLSStartTLS, TLSImplicit:
		cert, pemBytes, err := selfSigned()
		if err != nil {
			raw.Close()
			t.Fatalf("smtptest: certificate: %v", err)
		}
		s.cert, s.pem = cert.Leaf, pemBytes
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.srv.TLSConfig = cfg
		if opts.TLS == TLSImplicit {
			ln = tls.NewListener(ln, cfg)
		}
	default:
		raw.Close()
		t.Fatalf("smtptest: unknown TLS mode %q", opts.TLS)
	}

	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = s.srv.Close()
		// Serve registers the listener with the server only once it
		// runs; close it here too in case Close came first.
		_ = raw.Close()
		<-served
		// Close does not wait for the connection handlers; the tracking
		// listener does, so no goroutine outlives the test.
		conns.Wait()
	})
	return s
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr.String() }

// Host returns the server's IP address.
func (s *Server) Host() string { return s.addr.IP.String() }

// Port returns the server's port.
func (s *Server) Port() int { return s.addr.Port }

// Certificate returns the server's self-signed certificate (nil without
// TLS). It is valid for 127.0.0.1, ::1 and localhost.
func (s *Server) Certificate() *x509.Certificate { return s.cert }

// CertPEM returns the certificate in PEM form, e.g. to write a ca_file.
func (s *Server) CertPEM() []byte { return s.pem }

// RootCAs returns a pool that trusts the server's certificate.
func (s *Server) RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	if s.cert != nil {
		pool.AddCert(s.cert)
	}
	return pool
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// AuthFailures returns how many AUTH attempts were refused.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFail
}

// Wait blocks until at least n messages were accepted and returns them,
// or returns ctx's error.
func (s *Server) Wait(ctx context.Context, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		if len(s.messages) >= n {
			out := append([]Message(nil), s.messages...)
			s.mu.Unlock()
			return out, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *Server) accept(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{srv: s, tls: isTLS}, nil
}

// session is one SMTP session.
type session struct {
	srv  *Server
	tls  bool
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.srv.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.srv.opts.Username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != ss.srv.opts.Username || password != ss.srv.opts.Password {
			ss.srv.mu.Lock()
			ss.srv.authFail++
			ss.srv.mu.Unlock()
			return smtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.opts.Username != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if hook := ss.srv.opts.Rcpt; hook != nil {
		if err := hook(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Message{From: ss.from, To: append([]string(nil), ss.to...), Data: b, TLS: ss.tls, Auth: ss.user}
	if hook := ss.srv.opts.Data; hook != nil {
		if err := hook(m); err != nil {
			return err
		}
	}
	ss.srv.accept(m)
	return nil
}

func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *session) Logout() error { return nil }

// trackingListener counts open connections so that cleanup can wait for
// their handlers to finish.
type trackingListener struct {
	net.Listener
	conns *sync.WaitGroup
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.conns.Add(1)
	return &trackedConn{Conn: c, done: sync.OnceFunc(l.conns.Done)}, nil
}

type trackedConn struct {
	net.Conn
	done func()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.done()
	return err
}
