// Package netguard keeps Herald's outbound calls (webhooks, provider APIs,
// SMTP) away from addresses that belong to the machine or its private
// network, so that a rule author who controls a URL cannot use Herald to
// reach internal services (server-side request forgery).
//
// The check happens at dial time, on every address the name resolved to,
// just before the socket connects: a name that resolves to a public
// address when a URL is validated and to 127.0.0.1 a moment later (DNS
// rebinding) is still refused.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Guard dials only addresses that are public or inside an allowed prefix.
// It is safe for concurrent use.
type Guard struct {
	allow  []netip.Prefix
	dialer *net.Dialer
}

// New returns a Guard that refuses loopback, private, link-local,
// unspecified, multicast, CGNAT and other special-purpose addresses
// (including their IPv4-mapped and IPv4-embedding IPv6 forms) unless they
// fall inside one of the allow prefixes.
func New(allow []netip.Prefix) *Guard {
	g := &Guard{allow: make([]netip.Prefix, 0, len(allow))}
	for _, p := range allow {
		if !p.IsValid() {
			continue
		}
		g.allow = append(g.allow, normalize(p))
	}
	g.dialer = &net.Dialer{
		Timeout:        30 * time.Second,
		KeepAlive:      30 * time.Second,
		ControlContext: g.control,
	}
	return g
}

// normalize turns an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) into
// its IPv4 form, because addresses are unmapped before they are checked.
func normalize(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// Allowed reports whether the guard lets a connection to ip through.
func (g *Guard) Allowed(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return Public(ip)
}

// DialContext connects like net.Dialer.DialContext, but only to allowed
// addresses. A name is resolved by the dialer and every address it tries
// is checked just before it connects; addresses that are refused are
// skipped, and if no address is left the error is a *BlockedError. Only
// TCP and UDP networks are supported.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return nil, fmt.Errorf("netguard: network %q is not supported", network)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("netguard: %w", err)
	}
	conn, err := g.dialer.DialContext(ctx, network, addr)
	if err != nil {
		var be *BlockedError
		if errors.As(err, &be) {
			// Give the caller the name it asked for, not the dialer's
			// wrapping: the refusal is the whole story.
			return nil, &BlockedError{Host: host, Addr: be.Addr}
		}
		return nil, err
	}
	return conn, nil
}

// control runs after the dialer has resolved the name and created the
// socket, just before connect, once per address it tries.
func (g *Guard) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("netguard: unexpected dial address %q on %s: %w", address, network, err)
	}
	if !g.Allowed(ap.Addr()) {
		return &BlockedError{Addr: ap.Addr().WithZone("").Unmap()}
	}
	return nil
}

// BlockedError is returned when every address of a destination is refused.
type BlockedError struct {
	// Host is the name or address that was dialled.
	Host string
	// Addr is the (first) refused address.
	Addr netip.Addr
}

// Error implements error.
func (e *BlockedError) Error() string {
	if e.Host == "" || e.Host == e.Addr.String() {
		return fmt.Sprintf("netguard: refusing to connect to non-public address %s (allow it in network.allow_private)", e.Addr)
	}
	return fmt.Sprintf("netguard: refusing to connect to %s: it resolves to non-public address %s (allow it in network.allow_private)", e.Host, e.Addr)
}

// Blocked reports true; channel.ClassifyNetError recognises refused
// addresses by this method and makes them permanent failures.
func (e *BlockedError) Blocked() bool { return true }
