package nats

import (
	"context"
	"net"
	"sync"
	"time"
)

// dialer opens the sender's connections in place of nats.go's own, so
// that Close can end a connection attempt stuck waiting for a silent
// server (nats.go waits for it up to its timeout and offers no way to cut
// it short). nats.go still does the TLS handshake on top of it.
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

// Dial implements natsgo.CustomDialer.
func (d *dialer) Dial(network, address string) (net.Conn, error) {
	nd := &net.Dialer{Timeout: d.timeout}
	c, err := nd.DialContext(d.ctx, network, address)
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
