package loadgen

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/app"
)

// startApp runs a whole Herald in-process on a fresh SQLite database, with
// the configuration Config generates for rcv, until the test ends.
func startApp(tb testing.TB, rcv *Receiver) *app.App {
	tb.Helper()
	a, _ := startAppWith(tb, ConfigOptions{ReceiverURL: rcv.URL()})
	return a
}

// startAppWith is startApp with more configuration options; it also
// returns the database file.
func startAppWith(tb testing.TB, o ConfigOptions) (*app.App, string) {
	tb.Helper()
	dir := tb.TempDir()
	cfgPath := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfgPath, Config(o), 0o600); err != nil {
		tb.Fatal(err)
	}
	db := filepath.Join(dir, "herald.db")
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Options{
		ConfigPath: cfgPath, Listen: "127.0.0.1:0", DBPath: db,
	})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("app.Run: %v", err)
		}
	})
	return a, db
}

func startReceiver(tb testing.TB) *Receiver {
	tb.Helper()
	rcv := NewReceiver(nil)
	if err := rcv.Start("127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rcv.Close() })
	return rcv
}

// TestConfigDelivers checks the generated configuration against the real
// server: every accepted event arrives once, with its seq and send time.
func TestConfigDelivers(t *testing.T) {
	t.Parallel()
	rcv := startReceiver(t)
	a := startApp(t, rcv)
	d := &Driver{URL: a.URL(), Rate: 500, Count: 100}
	res, err := d.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	accepted := res.Accepted()
	if len(accepted) != 100 {
		t.Fatalf("%d of 100 events accepted; errors %v %v", len(accepted), res.Errors(), res.ErrorSamples())
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if missing, err := rcv.WaitAll(ctx, accepted); err != nil {
		t.Fatalf("%d events not delivered: %v", len(missing), err)
	}
	if st := rcv.Stats(); st.Seqs != 100 || st.ExtraKeys != 0 || st.Malformed != 0 {
		t.Errorf("receiver stats %+v, want 100 seqs, no extra keys, nothing malformed", st)
	}
	for i := range res.Requests {
		q := &res.Requests[i]
		dl, _ := rcv.Delivery(q.Seq)
		if !dl.Sent.Equal(q.Scheduled) {
			t.Fatalf("seq %d: the webhook carried send time %v, the driver scheduled %v", q.Seq, dl.Sent, q.Scheduled)
		}
	}
}

// BenchmarkAcceptDeliver measures the whole path in-process: HTTP in,
// durable commit, 202, webhook out to a local receiver, attempt recorded.
// It reports end-to-end events/s and latency percentiles; `herald bench`
// measures the same with the server in its own process.
func BenchmarkAcceptDeliver(b *testing.B) {
	rcv := startReceiver(b)
	a := startApp(b, rcv)
	d := &Driver{URL: a.URL(), Count: b.N, Concurrency: DefaultClosedConcurrency}
	b.ResetTimer()
	res, err := d.Run(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	accepted := res.Accepted()
	ctx, cancel := context.WithTimeout(b.Context(), 2*time.Minute)
	defer cancel()
	if missing, _ := rcv.WaitAll(ctx, accepted); len(missing) > 0 {
		b.Fatalf("%d of %d accepted events not delivered", len(missing), len(accepted))
	}
	b.StopTimer()
	if len(accepted) != b.N {
		b.Fatalf("%d of %d events accepted: %v", len(accepted), b.N, res.Errors())
	}
	_, last := rcv.Window()
	var e2e []time.Duration
	for _, s := range accepted {
		dl, _ := rcv.Delivery(s)
		e2e = append(e2e, dl.Latency())
	}
	p := Summarize(e2e)
	b.ReportMetric(float64(b.N)/last.Sub(res.Start).Seconds(), "events/s")
	b.ReportMetric(float64(p.P50)/1e6, "p50-ms")
	b.ReportMetric(float64(p.P99)/1e6, "p99-ms")
}
