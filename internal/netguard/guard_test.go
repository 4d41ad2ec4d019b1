package netguard_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/netguard"
)

func TestPublic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"172.32.0.1", true},
		{"192.168.1.1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"100.128.0.1", true},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"2002:7f00:1::1", false},  // 6to4 of 127.0.0.1
		{"2002:808:808::1", true},  // 6to4 of 8.8.8.8
		{"::127.0.0.1", false},     // IPv4-compatible
		{"198.18.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			ip := netip.MustParseAddr(tt.addr)
			if got := netguard.Public(ip); got != tt.want {
				t.Errorf("Public(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
	if netguard.Public(netip.Addr{}) {
		t.Error("Public(zero Addr) = true, want false")
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	g := netguard.New([]netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("::ffff:10.0.0.0/104"), // mapped form of 10.0.0.0/8
		netip.MustParsePrefix("fd00::/8"),
	})
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"127.0.0.2", false},
		{"::1", false},
		{"10.9.8.7", true},
		{"192.168.0.1", false},
		{"fd00::5", true},
		{"fc00::5", false},
		{"8.8.8.8", true},
	}
	for _, tt := range tests {
		if got := g.Allowed(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Allowed(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// listen starts a TCP listener on loopback that accepts and closes.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

func TestDialContext(t *testing.T) {
	t.Parallel()
	addr := listen(t)
	_, port, _ := net.SplitHostPort(addr)
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

	tests := []struct {
		name    string
		allow   []netip.Prefix
		addr    string
		blocked bool
	}{
		{"literal refused", nil, addr, true},
		{"literal allowed", loopback, addr, false},
		{"mapped literal refused", nil, "[::ffff:127.0.0.1]:" + port, true},
		{"localhost refused", nil, "localhost:" + port, true},
		// localhost may resolve to ::1 as well; the dialer skips the
		// refused address and connects to the allowed one.
		{"localhost allowed", loopback, "localhost:" + port, false},
		{"unspecified refused", nil, "0.0.0.0:" + port, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := netguard.New(tt.allow)
			conn, err := g.DialContext(t.Context(), "tcp", tt.addr)
			if !tt.blocked {
				if err != nil {
					t.Fatalf("DialContext(%s) error = %v, want a connection", tt.addr, err)
				}
				conn.Close()
				return
			}
			if err == nil {
				conn.Close()
				t.Fatalf("DialContext(%s) connected, want a refusal", tt.addr)
			}
			var be *netguard.BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("DialContext(%s) error = %T %v, want *netguard.BlockedError", tt.addr, err, err)
			}
			host, _, _ := net.SplitHostPort(tt.addr)
			if be.Host != host {
				t.Errorf("BlockedError.Host = %q, want %q", be.Host, host)
			}
			if !be.Blocked() {
				t.Error("Blocked() = false")
			}
			if !strings.Contains(err.Error(), be.Addr.String()) {
				t.Errorf("error %q does not name the refused address %s", err, be.Addr)
			}
		})
	}
}

func TestDialContextErrors(t *testing.T) {
	t.Parallel()
	g := netguard.New(nil)
	if _, err := g.DialContext(t.Context(), "unix", "/tmp/x.sock"); err == nil {
		t.Error("unix network: want an error")
	}
	if _, err := g.DialContext(t.Context(), "tcp", "no-port"); err == nil {
		t.Error("address without port: want an error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := netguard.New(nil).DialContext(ctx, "tcp", "8.8.8.8:53")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: error = %v, want context.Canceled", err)
	}
}

func TestHTTPClient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)

	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		c := netguard.New(nil).HTTPClient(0)
		resp, err := c.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
			t.Fatal("GET loopback without allowance succeeded")
		}
		var be *netguard.BlockedError
		if !errors.As(err, &be) {
			t.Fatalf("error = %v, want a *netguard.BlockedError inside", err)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		t.Parallel()
		c := netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}).HTTPClient(0)
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Errorf("got %d %q, want 200 ok", resp.StatusCode, b)
		}
	})
	t.Run("no redirects", func(t *testing.T) {
		t.Parallel()
		c := netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}).HTTPClient(0)
		resp, err := c.Get(srv.URL + "/redirect")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Errorf("status = %d, want the 302 itself", resp.StatusCode)
		}
	})
	t.Run("no proxy from environment", func(t *testing.T) {
		t.Parallel()
		c := netguard.New(nil).HTTPClient(0)
		if tr, ok := c.Transport.(*http.Transport); !ok || tr.Proxy != nil {
			t.Errorf("transport proxy is set; a proxy would bypass the guard")
		}
	})
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://example.com/hook", true},
		{"https://user:pw@example.com:8443/a?b=c", true},
		{"HTTPS://example.com", true},
		{"http://[::1]:80/", true},
		{"ftp://example.com/", false},
		{"file:///etc/passwd", false},
		{"example.com/hook", false},
		{"/relative", false},
		{"http://", false},
		{"http:///path", false},
		{"http://user:s3cret@exa mple.com/", false},
		{"http://example.com:port/", false},
		{"", false},
	}
	for _, tt := range tests {
		err := netguard.CheckURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("CheckURL(%q) error leaks the password: %v", tt.url, err)
		}
	}
}

func FuzzPublic(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::", "8.8.8.8", "fe80::1%lo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		got := netguard.Public(ip)
		// A mapped address is judged exactly like its IPv4 form.
		if ip.Is4() {
			mapped := netip.AddrFrom16(ip.As16())
			if netguard.Public(mapped) != got {
				t.Errorf("Public(%s) = %v but Public(%s) = %v", ip, got, mapped, !got)
			}
		}
		if got && (ip.IsLoopback() || ip.Unmap().IsLoopback() || ip.IsPrivate() || ip.Unmap().IsPrivate()) {
			t.Errorf("Public(%s) = true for a loopback or private address", ip)
		}
	})
}
