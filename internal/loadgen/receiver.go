// Package loadgen measures a Herald server from the outside: a driver
// posts events at a fixed rate (open loop) or as fast as the server
// answers (closed loop), a webhook receiver counts what the server
// delivers, and a report puts the two together: throughput, end-to-end
// latency from each event's scheduled send time to its webhook's arrival,
// the latency of the 202, errors, duplicates, and what the server spent
// per event (CPU, database rows, bytes written).
//
// `herald bench` is its command-line front end; the crash-safety test and
// the go-test benchmark use the same parts.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Delivery is what the receiver knows about one event (one seq): when its
// webhook first arrived and how often it came.
type Delivery struct {
	// Seq is the event's sequence number, read from the body's "seq".
	Seq int64
	// Key is the Idempotency-Key (or webhook-id) of the first delivery.
	Key string
	// Sent is the event's scheduled send time, read from the body's
	// "sent_ns" (zero when the body had none).
	Sent time.Time
	// Due is when the event's timer was due, read from the body's "due"
	// (an RFC 3339 time; zero when the body had none): the timer
	// benchmark's deliveries carry it.
	Due time.Time
	// At is when the first delivery arrived.
	At time.Time
	// Count is the number of deliveries of this seq, duplicates included.
	Count int
	// Keys is the number of distinct keys this seq arrived under. More
	// than one means the server made more than one message of the same
	// event (or accepted the event twice), which a retry never does.
	Keys int
}

// Latency is the end-to-end latency of the first delivery: arrival minus
// scheduled send time (0 when the send time is unknown).
func (d Delivery) Latency() time.Duration {
	if d.Sent.IsZero() {
		return 0
	}
	return d.At.Sub(d.Sent)
}

// Lag is how late the first delivery arrived after the timer's due time
// (negative: early; 0 when the due time is unknown).
func (d Delivery) Lag() time.Duration {
	if d.Due.IsZero() {
		return 0
	}
	return d.At.Sub(d.Due)
}

// ReceiverStats are the receiver's counters.
type ReceiverStats struct {
	// Requests is every request received, well-formed or not.
	Requests int `json:"requests"`
	// Unique is the number of distinct idempotency keys delivered.
	Unique int `json:"unique"`
	// Duplicates is the number of deliveries whose key had already been
	// delivered: at-least-once redeliveries.
	Duplicates int `json:"duplicates"`
	// Seqs is the number of distinct event seqs delivered.
	Seqs int `json:"seqs"`
	// ExtraKeys counts deliveries of an already delivered seq under a new
	// key (see Delivery.Keys); it should be 0.
	ExtraKeys int `json:"extra_keys"`
	// Malformed counts requests without a key or a seq, or with a body
	// that is not JSON; they are answered 400.
	Malformed int `json:"malformed"`
}

// Receiver is a webhook endpoint for Herald's deliveries. It counts
// deliveries by their Idempotency-Key (or webhook-id: Herald sends the
// message id in both, the same on every retry), so a redelivery shows as
// a duplicate, and records per event seq when its first delivery arrived
// and when the event was scheduled to be sent, both read from the JSON
// body the rule rendered (see Config).
//
// It is an http.Handler; Start also serves it on a loopback port. It is
// safe for concurrent use.
type Receiver struct {
	now func() time.Time

	mu        sync.Mutex
	keys      map[string]int64 // key → seq
	seqs      map[int64]*Delivery
	seqKeys   map[int64][]string
	stats     ReceiverStats
	waiters   map[*waiter]struct{}
	firstSeen time.Time
	lastSeen  time.Time

	srv *http.Server
	ln  net.Listener
}

var _ http.Handler = (*Receiver)(nil)

// NewReceiver returns a receiver with nothing received. now is its clock
// (nil: time.Now); arrival times are wall-clock, comparable with the send
// times the driver puts in events on the same machine.
func NewReceiver(now func() time.Time) *Receiver {
	if now == nil {
		now = time.Now
	}
	return &Receiver{
		now:     now,
		keys:    make(map[string]int64),
		seqs:    make(map[int64]*Delivery),
		seqKeys: make(map[int64][]string),
		waiters: make(map[*waiter]struct{}),
	}
}

// Start serves the receiver on addr ("127.0.0.1:0" picks a free port)
// until Close. Its URL is then URL().
func (r *Receiver) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("receiver: listen on %s: %w", addr, err)
	}
	r.ln = ln
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	// Serve ends with ErrServerClosed on Close; nothing to report.
	go r.srv.Serve(ln)
	return nil
}

// URL is the address webhooks should be posted to, once started.
func (r *Receiver) URL() string {
	if r.ln == nil {
		return ""
	}
	return "http://" + r.ln.Addr().String() + "/hook"
}

// Close stops serving. It is safe to call on a receiver never started.
func (r *Receiver) Close() error {
	if r.srv == nil {
		return nil
	}
	return r.srv.Close()
}

// body is the part of the webhook body the receiver reads. Numbers may
// come as JSON numbers or strings: templates render event data as text.
type body struct {
	Seq    flexInt `json:"seq"`
	SentNS flexInt `json:"sent_ns"`
	Due    string  `json:"due"`
}

// flexInt decodes an integer given as a JSON number or a string.
type flexInt struct {
	v   int64
	set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %q", b)
	}
	f.v, f.set = v, true
	return nil
}

// ServeHTTP records one delivery and answers 200, or 400 for a request
// the receiver cannot attribute (no key, no seq, not JSON).
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := r.now()
	key := req.Header.Get("Idempotency-Key")
	if key == "" {
		key = req.Header.Get("Webhook-Id")
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	var b body
	if err == nil {
		err = json.Unmarshal(raw, &b)
	}
	if err == nil && (key == "" || !b.Seq.set) {
		err = errors.New("a delivery needs an Idempotency-Key or webhook-id header and a seq in its body")
	}
	var due time.Time
	if err == nil && b.Due != "" {
		if due, err = time.Parse(time.RFC3339Nano, b.Due); err != nil {
			err = fmt.Errorf("due %q is not an RFC 3339 time", b.Due)
		}
	}
	r.mu.Lock()
	r.stats.Requests++
	if err != nil {
		r.stats.Malformed++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.record(key, b, due, at)
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// record counts a delivery; r.mu is held.
func (r *Receiver) record(key string, b body, due, at time.Time) {
	if r.firstSeen.IsZero() {
		r.firstSeen = at
	}
	r.lastSeen = at
	seq := b.Seq.v
	if _, dup := r.keys[key]; dup {
		r.stats.Duplicates++
		r.seqs[seq].Count++
		return
	}
	r.keys[key] = seq
	r.stats.Unique++
	d := r.seqs[seq]
	if d != nil {
		d.Count++
		d.Keys++
		r.stats.ExtraKeys++
		r.seqKeys[seq] = append(r.seqKeys[seq], key)
		return
	}
	d = &Delivery{Seq: seq, Key: key, Due: due, At: at, Count: 1, Keys: 1}
	if b.SentNS.set {
		d.Sent = time.Unix(0, b.SentNS.v)
	}
	r.seqs[seq] = d
	r.stats.Seqs++
	for w := range r.waiters {
		if _, ok := w.pending[seq]; ok {
			delete(w.pending, seq)
			if len(w.pending) == 0 {
				close(w.done)
				delete(r.waiters, w)
			}
		}
	}
}

// waiter is a WaitAll in progress: the seqs it still needs, crossed off
// by record as they arrive, so a wait over many seqs costs O(1) per
// delivery rather than a rescan.
type waiter struct {
	pending map[int64]struct{}
	done    chan struct{}
}

// Stats returns the counters so far.
func (r *Receiver) Stats() ReceiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Delivery returns what was received for seq.
func (r *Receiver) Delivery(seq int64) (Delivery, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.seqs[seq]
	if !ok {
		return Delivery{}, false
	}
	return *d, true
}

// KeysOf returns every key seq arrived under, first one first.
func (r *Receiver) KeysOf(seq int64) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.seqs[seq]
	if !ok {
		return nil
	}
	return append([]string{d.Key}, r.seqKeys[seq]...)
}

// Window returns the arrival times of the first and the last request
// recorded (zero when none).
func (r *Receiver) Window() (first, last time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firstSeen, r.lastSeen
}

// Missing returns the seqs among want not delivered yet.
func (r *Receiver) Missing(want []int64) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, s := range want {
		if _, ok := r.seqs[s]; !ok {
			out = append(out, s)
		}
	}
	return out
}

// WaitAll waits until every seq in want has been delivered at least once,
// or ctx ends; it then returns the seqs still missing (in want's order)
// and ctx's error. It wakes on deliveries, not on a timer.
func (r *Receiver) WaitAll(ctx context.Context, want []int64) ([]int64, error) {
	w := &waiter{pending: make(map[int64]struct{}), done: make(chan struct{})}
	r.mu.Lock()
	for _, s := range want {
		if _, ok := r.seqs[s]; !ok {
			w.pending[s] = struct{}{}
		}
	}
	if len(w.pending) == 0 {
		r.mu.Unlock()
		return nil, nil
	}
	r.waiters[w] = struct{}{}
	r.mu.Unlock()
	select {
	case <-w.done:
		return nil, nil
	case <-ctx.Done():
	}
	r.mu.Lock()
	delete(r.waiters, w)
	var missing []int64
	for _, s := range want {
		if _, ok := r.seqs[s]; !ok {
			missing = append(missing, s)
		}
	}
	r.mu.Unlock()
	if len(missing) == 0 {
		return nil, nil
	}
	return missing, ctx.Err()
}
