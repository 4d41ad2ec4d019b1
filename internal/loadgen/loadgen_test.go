package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func post(t *testing.T, h http.Handler, key, body string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestReceiverCounts(t *testing.T) {
	t.Parallel()
	now := time.Unix(100, 0)
	r := NewReceiver(func() time.Time { return now })
	sent := time.Unix(99, 500_000_000).UnixNano()
	deliveries := []struct {
		key, body string
		want      int
	}{
		{"m1", fmt.Sprintf(`{"seq":"1","sent_ns":"%d"}`, sent), 200},
		{"m1", fmt.Sprintf(`{"seq":"1","sent_ns":"%d"}`, sent), 200}, // a retry
		{"m2", `{"seq":2}`, 200},                                     // numbers work too
		{"m3", `{"seq":"2"}`, 200},                                   // seq 2 again, new key
		{"", `{"seq":"3"}`, 400},                                     // no key
		{"m4", `{"other":1}`, 400},                                   // no seq
		{"m5", `not json`, 400},
		{"m6", `{"seq":"x"}`, 400},
	}
	for _, d := range deliveries {
		if got := post(t, r, d.key, d.body); got != d.want {
			t.Errorf("POST key %q body %s: status %d, want %d", d.key, d.body, got, d.want)
		}
	}
	want := ReceiverStats{Requests: 8, Unique: 3, Duplicates: 1, Seqs: 2, ExtraKeys: 1, Malformed: 4}
	if got := r.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	d, ok := r.Delivery(1)
	if !ok || d.Count != 2 || d.Keys != 1 || d.Key != "m1" || d.Latency() != 500*time.Millisecond {
		t.Errorf("Delivery(1) = %+v, %v; want 2 deliveries of key m1, latency 500ms", d, ok)
	}
	if keys := r.KeysOf(2); len(keys) != 2 || keys[0] != "m2" || keys[1] != "m3" {
		t.Errorf("KeysOf(2) = %v, want [m2 m3]", keys)
	}
	if d, _ := r.Delivery(2); d.Latency() != 0 {
		t.Errorf("Delivery(2).Latency() = %v without a send time, want 0", d.Latency())
	}
	if got := r.Missing([]int64{1, 2, 3}); len(got) != 1 || got[0] != 3 {
		t.Errorf("Missing = %v, want [3]", got)
	}
}

func TestReceiverWebhookIDHeader(t *testing.T) {
	t.Parallel()
	r := NewReceiver(nil)
	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(`{"seq":"7"}`))
	req.Header.Set("webhook-id", "msg-7")
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if d, ok := r.Delivery(7); !ok || d.Key != "msg-7" {
		t.Errorf("Delivery(7) = %+v, %v; want key msg-7 from webhook-id", d, ok)
	}
}

func TestReceiverWaitAll(t *testing.T) {
	t.Parallel()
	r := NewReceiver(nil)
	want := []int64{0, 1, 2, 3}
	done := make(chan []int64)
	go func() {
		missing, _ := r.WaitAll(context.Background(), want)
		done <- missing
	}()
	for _, s := range want {
		post(t, r, "k"+strconv.FormatInt(s, 10), fmt.Sprintf(`{"seq":%d}`, s))
	}
	if missing := <-done; len(missing) != 0 {
		t.Errorf("WaitAll missing %v after every seq arrived", missing)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	missing, err := r.WaitAll(ctx, []int64{3, 4, 5})
	if err == nil || len(missing) != 2 {
		t.Errorf("WaitAll on a cancelled context = %v, %v; want [4 5] and an error", missing, err)
	}
}

// fakeServer answers POST /v1/events with 202 and records the bodies; it
// stands in for Herald where only the driver is under test.
type fakeServer struct {
	mu     sync.Mutex
	keys   map[string]bool
	bodies []map[string]any
	status int
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev map[string]any
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || r.URL.Path != "/v1/events" ||
		r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := r.Header.Get("Idempotency-Key")
	if f.keys[key] {
		w.WriteHeader(http.StatusOK)
		return
	}
	f.keys[key] = true
	f.bodies = append(f.bodies, ev)
	w.WriteHeader(f.status)
}

func TestDriverLoops(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rate float64
	}{{"open", 2000}, {"closed", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeServer{keys: map[string]bool{}, status: http.StatusAccepted}
			srv := httptest.NewServer(f)
			defer srv.Close()
			d := &Driver{URL: srv.URL, Rate: tc.rate, Count: 200, Concurrency: 8, FirstSeq: 1000, KeyPrefix: "t-"}
			res, err := d.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Requests) != 200 || len(res.Accepted()) != 200 || len(res.Errors()) != 0 {
				t.Fatalf("%d requests, %d accepted, errors %v; want 200 accepted", len(res.Requests), len(res.Accepted()), res.Errors())
			}
			for i, q := range res.Requests {
				if q.Seq != int64(1000+i) || q.Key != "t-"+strconv.Itoa(1000+i) {
					t.Fatalf("request %d: seq %d key %q, want seq %d key t-%d", i, q.Seq, q.Key, 1000+i, 1000+i)
				}
				if q.End.Before(q.Start) || q.Start.Before(q.Scheduled) {
					t.Fatalf("request %d: scheduled %v, start %v, end %v out of order", i, q.Scheduled, q.Start, q.End)
				}
			}
			if tc.rate > 0 {
				// Open loop: event i is due at start + i/rate exactly.
				step := res.Requests[1].Scheduled.Sub(res.Requests[0].Scheduled)
				if step != 500*time.Microsecond {
					t.Errorf("schedule step %v, want 500µs at 2000/s", step)
				}
			}
			if done, acc, failed := d.Progress(); done != 200 || acc != 200 || failed != 0 {
				t.Errorf("Progress() = %d, %d, %d; want 200, 200, 0", done, acc, failed)
			}
			ev := f.bodies[0]
			data, _ := ev["data"].(map[string]any)
			if ev["type"] != DefaultEventType || ev["source"] != DefaultSource || data["seq"] == nil || data["sent_ns"] == nil {
				t.Errorf("event body %v lacks type, source, data.seq or data.sent_ns", ev)
			}
		})
	}
}

func TestDriverErrors(t *testing.T) {
	t.Parallel()
	f := &fakeServer{keys: map[string]bool{"dup-0": true}, status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(f)
	defer srv.Close()
	d := &Driver{URL: srv.URL, Count: 3, Concurrency: 1, KeyPrefix: "dup-"}
	res, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := res.Errors()
	if got["http_200_duplicate"] != 1 || got["http_503"] != 2 || len(res.Accepted()) != 0 {
		t.Errorf("errors %v, accepted %d; want 1 duplicate, 2 http_503, none accepted", got, len(res.Accepted()))
	}

	// A closed port: connection refused, classified.
	srv2 := httptest.NewServer(f)
	url := srv2.URL
	srv2.Close()
	d = &Driver{URL: url, Count: 2, Concurrency: 1}
	if res, err = d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := res.Errors(); got["connection_refused"] != 2 {
		t.Errorf("errors against a closed port %v, want 2 connection_refused", got)
	}
}

func TestDriverNeedsABound(t *testing.T) {
	t.Parallel()
	if _, err := (&Driver{URL: "http://127.0.0.1:1"}).Run(context.Background()); err == nil {
		t.Error("a driver with neither count nor duration ran")
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(ds)
	want := Percentiles{N: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("Summarize(1..100ms) = %+v, want %+v", got, want)
	}
	if got := Summarize([]time.Duration{7}); got.P50 != 7 || got.P99 != 7 || got.Max != 7 {
		t.Errorf("Summarize of one value = %+v", got)
	}
	if got := Summarize(nil); got != (Percentiles{}) {
		t.Errorf("Summarize(nil) = %+v, want zero", got)
	}
}

func TestScrapeMetric(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP x\nprocess_cpu_seconds_total 1.5\nherald_messages_total{channel=\"a\",status=\"sent\"} 3\n"+
			"herald_messages_total{channel=\"b\",status=\"dead\"} 2\nherald_messages_total_other 9\n")
	}))
	defer srv.Close()
	for name, want := range map[string]float64{"process_cpu_seconds_total": 1.5, "herald_messages_total": 5} {
		got, ok, err := ScrapeMetric(context.Background(), srv.Client(), srv.URL, name)
		if err != nil || !ok || got != want {
			t.Errorf("ScrapeMetric(%s) = %v, %v, %v; want %v", name, got, ok, err, want)
		}
	}
	if _, ok, err := ScrapeMetric(context.Background(), srv.Client(), srv.URL, "absent"); ok || err != nil {
		t.Errorf("ScrapeMetric(absent) found it (err %v)", err)
	}
}
