package loadgen

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestWaitingAndWake checks the waiting load against the real server:
// every event puts a run into waiting (half event waits, half delays),
// and an event correlated with one of them wakes exactly that run, whose
// webhook carries the waking event's seq and send time.
func TestWaitingAndWake(t *testing.T) {
	t.Parallel()
	rcv := startReceiver(t)
	a, db := startAppWith(t, ConfigOptions{ReceiverURL: rcv.URL(), Waits: true, MaxBatch: DefaultMaxBatch})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const n = 600
	l := &WaitLoader{URL: a.URL(), N: n, Batch: 250}
	wl, err := l.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if wl.Accepted != n || len(wl.Errors) != 0 {
		t.Fatalf("%d of %d accepted, errors %v %v", wl.Accepted, n, wl.Errors, wl.ErrorSamples)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if err := WaitMetricAtLeast(ctx, client, a.URL(), "herald_queue_scheduled_jobs", n); err != nil {
		t.Fatal(err)
	}
	runs, waits, err := CountWaiting(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if runs != n || waits != n/2 {
		t.Errorf("database: %d runs waiting, %d event waits; want %d and %d", runs, waits, n, n/2)
	}
	seqs := EventWaitSeqs(n, 10)
	if len(seqs) != 10 || seqs[0] != WaitSeqBase || seqs[9] != WaitSeqBase+2*270 {
		t.Fatalf("EventWaitSeqs(600, 10) = %v", seqs)
	}
	rep, err := Wake(ctx, a.URL(), "", rcv, seqs, 200, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 10 || rep.Woken != 10 || rep.Missing != 0 || rep.Latency.N != 10 {
		t.Fatalf("wake report %+v, want 10 woken", rep)
	}
	if st := rcv.Stats(); st.Seqs != 10 || st.ExtraKeys != 0 || st.Malformed != 0 {
		t.Errorf("receiver %+v: want exactly the 10 woken runs' webhooks", st)
	}
	if runs, waits, err = CountWaiting(ctx, db); err != nil || runs != n-10 || waits != n/2-10 {
		t.Errorf("after the wake: %d runs waiting, %d event waits (%v); want %d and %d", runs, waits, err, n-10, n/2-10)
	}
}

// TestTimersFire runs a short timer benchmark against the real server:
// every timer fires once, never before its due time, and its webhook
// carries the due time.
func TestTimersFire(t *testing.T) {
	t.Parallel()
	rcv := startReceiver(t)
	a, _ := startAppWith(t, ConfigOptions{ReceiverURL: rcv.URL(), Timers: true, MaxBatch: DefaultMaxBatch})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	d := &TimerDriver{URL: a.URL(), Rate: 200, Duration: time.Second, Lead: time.Second, MaxBatch: 7}
	res, err := d.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	accepted := res.Accepted()
	if len(accepted) != 200 {
		t.Fatalf("%d of 200 timers accepted", len(accepted))
	}
	missing, err := rcv.WaitAll(ctx, accepted)
	if err != nil {
		t.Fatalf("%d timers did not fire: %v", len(missing), err)
	}
	rep := timerReport(d, res, rcv, missing)
	if rep.Sent != 200 || rep.Fired != 200 || rep.Early != 0 || rep.Lag.N != 200 {
		t.Errorf("timer report %+v: want 200 fired, none early", rep)
	}
	for _, s := range accepted {
		if dl, _ := rcv.Delivery(s); !dl.Due.Equal(res.Due(s)) {
			t.Fatalf("timer %d: the webhook carried due %v, the driver set %v", s, dl.Due, res.Due(s))
		}
	}
}

func TestReceiverDue(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := NewReceiver(func() time.Time { return now })
	if got := post(t, r, "k1", `{"seq":"1","due":"2026-01-02T03:04:04.75Z"}`); got != 200 {
		t.Fatalf("status %d", got)
	}
	if got := post(t, r, "k2", `{"seq":"2","due":"tomorrow"}`); got != 400 {
		t.Errorf("a due that is not a time: status %d, want 400", got)
	}
	if d, _ := r.Delivery(1); d.Lag() != 250*time.Millisecond {
		t.Errorf("Lag() = %v, want 250ms", d.Lag())
	}
}
