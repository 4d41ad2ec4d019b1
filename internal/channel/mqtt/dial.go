package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// dialer opens the sender's connections in place of paho's own, so that
// Close can end a connection attempt that is stuck in the MQTT handshake
// (paho waits for it up to the connect timeout and offers no way to cut
// it short). It also ignores proxy environment variables, like Herald's
// other channels.
type dialer struct {
	timeout time.Duration
	ctx     context.Context // canceled by abort
	cancel  context.CancelFunc

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func newDialer(timeout time.Duration) *dialer {
	ctx, cancel := context.WithCancel(context.Background())
	return &dialer{timeout: timeout, ctx: ctx, cancel: cancel, conns: make(map[*trackedConn]struct{})}
}

// open implements paho.OpenConnectionFunc for tcp, ssl, ws and wss.
func (d *dialer) open(u *url.URL, o paho.ClientOptions) (net.Conn, error) {
	nd := &net.Dialer{Timeout: d.timeout}
	var c net.Conn
	var err error
	switch u.Scheme {
	case "tcp":
		c, err = nd.DialContext(d.ctx, "tcp", u.Host)
	case "ssl":
		cfg := o.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		td := &tls.Dialer{NetDialer: nd, Config: cfg}
		c, err = td.DialContext(d.ctx, "tcp", u.Host)
	case "ws", "wss":
		var tc *tls.Config
		if u.Scheme == "wss" {
			tc = o.TLSConfig
		}
		c, err = paho.NewWebsocket(u.String(), tc, d.timeout, o.HTTPHeaders, o.WebsocketOptions)
	default:
		return nil, errors.New("unsupported broker scheme " + u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, d: d}
	d.mu.Lock()
	aborted := d.ctx.Err() != nil
	if !aborted {
		d.conns[tc] = struct{}{}
	}
	d.mu.Unlock()
	if aborted {
		c.Close()
		return nil, net.ErrClosed
	}
	return tc, nil
}

// abort stops new connections and closes the open ones.
func (d *dialer) abort() {
	d.mu.Lock()
	d.cancel()
	conns := make([]*trackedConn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	d.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// trackedConn leaves the dialer's set when closed.
type trackedConn struct {
	net.Conn
	d    *dialer
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.d.mu.Lock()
		delete(c.d.conns, c)
		c.d.mu.Unlock()
	})
	return c.Conn.Close()
}
