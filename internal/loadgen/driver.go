package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of a Driver.
const (
	DefaultEventType = "bench.event"
	DefaultSource    = "herald:bench"
	// DefaultOpenConcurrency is the open loop's connection count: enough
	// that a server stalling for a while gets the backlog at once when it
	// recovers, as real independent clients would send it.
	DefaultOpenConcurrency = 128
	// DefaultClosedConcurrency is the closed loop's connection count.
	DefaultClosedConcurrency = 32
)

// Driver posts events to a Herald server, one event per request, each
// with its own Idempotency-Key (KeyPrefix + seq) and a body whose data
// carries "seq" and "sent_ns" (the scheduled send time in Unix
// nanoseconds) as strings, for the rule to render into its webhook body.
//
// With a Rate it runs an open loop: event i is scheduled at start + i/Rate
// whether or not earlier requests have been answered, and every latency is
// measured from that scheduled time, so a server that stalls cannot hide
// the stall by slowing the driver down (coordinated omission). Without a
// Rate it runs a closed loop at saturation: Concurrency connections each
// send the next event as soon as the previous one is answered.
//
// A run ends after Count events or Duration, whichever comes first (at
// least one of them must be set), and then waits for the requests in
// flight, each bounded by Timeout.
type Driver struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// URLs, when set, are several servers (the nodes of a cluster): the
	// i-th event goes to URLs[i mod len(URLs)], as a round-robin load
	// balancer would send it. URL is then unused.
	URLs []string
	// Type and Source of the events (defaults DefaultEventType and
	// DefaultSource).
	Type, Source string
	// KeyPrefix prefixes every Idempotency-Key (default: random, so two
	// runs against the same server never collide).
	KeyPrefix string
	// Token is the API bearer token, if the server needs one.
	Token string
	// Rate is events per second for an open loop; 0 means a closed loop.
	Rate float64
	// Concurrency is the number of connections (defaults
	// DefaultOpenConcurrency and DefaultClosedConcurrency).
	Concurrency int
	// Count bounds the number of events (0: no bound but Duration).
	Count int
	// FirstSeq is the seq of the first event (events are numbered
	// FirstSeq, FirstSeq+1, ...), so that runs feeding one Receiver do not
	// overlap.
	FirstSeq int64
	// Seqs, when set, are the seqs of the events in the order they are
	// sent, instead of FirstSeq, FirstSeq+1, ...; Count is then at most
	// len(Seqs).
	Seqs []int64
	// Duration bounds the time events are sent (0: no bound but Count).
	Duration time.Duration
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
	// Client makes the requests (default: a keep-alive client with an idle
	// connection per worker).
	Client *http.Client

	sent, accepted, failed atomic.Int64
}

// Request is the outcome of one event's request.
type Request struct {
	Seq int64
	// Key is the request's Idempotency-Key.
	Key string
	// Scheduled is when the event was due to be sent (open loop) or was
	// sent (closed loop); latencies count from it.
	Scheduled time.Time
	// Start and End bracket the HTTP exchange itself.
	Start, End time.Time
	// Status is the HTTP status (0 when there was no answer).
	Status int
	// ErrKind classifies a failure: "connection_refused", "timeout",
	// "http_503", ... (empty for 202).
	ErrKind string
	// Err is the failure's text.
	Err string
}

// Accepted reports whether the server answered 202: the event is durable.
func (r *Request) Accepted() bool { return r.Status == http.StatusAccepted }

// Latency is the time from the scheduled send to the answer.
func (r *Request) Latency() time.Duration { return r.End.Sub(r.Scheduled) }

// Result is what a driver run did.
type Result struct {
	// Requests in seq order.
	Requests []Request
	// Start is the run's start (the first scheduled time); End is when
	// the last answer came back.
	Start, End time.Time
	// Rate and Concurrency the run used (Rate 0: closed loop).
	Rate        float64
	Concurrency int
}

// Accepted returns the seqs the server answered 202.
func (r *Result) Accepted() []int64 {
	var out []int64
	for i := range r.Requests {
		if r.Requests[i].Accepted() {
			out = append(out, r.Requests[i].Seq)
		}
	}
	return out
}

// Errors counts the failed requests by kind.
func (r *Result) Errors() map[string]int {
	out := map[string]int{}
	for i := range r.Requests {
		if k := r.Requests[i].ErrKind; k != "" {
			out[k]++
		}
	}
	return out
}

// ErrorSamples returns the first error text of every kind.
func (r *Result) ErrorSamples() map[string]string {
	out := map[string]string{}
	for i := range r.Requests {
		q := &r.Requests[i]
		if _, seen := out[q.ErrKind]; q.ErrKind != "" && !seen {
			out[q.ErrKind] = q.Err
		}
	}
	return out
}

// Progress returns how many requests have been answered so far, how many
// of them with 202, and how many failed. Safe to call during Run.
func (d *Driver) Progress() (done, accepted, failed int64) {
	return d.sent.Load(), d.accepted.Load(), d.failed.Load()
}

// NewClient returns a keep-alive HTTP client for conns concurrent
// requests to one host.
func NewClient(conns int, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConns:        2 * conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

type work struct {
	seq       int64
	scheduled time.Time
}

// Run sends the events and returns every request's outcome. It returns
// an error only for a driver that cannot start; failed requests are in
// the result. Cancelling ctx stops sending; requests in flight end with
// it.
func (d *Driver) Run(ctx context.Context) (*Result, error) {
	if d.URL == "" && len(d.URLs) == 0 {
		return nil, errors.New("loadgen: driver needs a URL")
	}
	if d.Count <= 0 && d.Duration <= 0 && len(d.Seqs) == 0 {
		return nil, errors.New("loadgen: driver needs a count or a duration")
	}
	if d.Rate < 0 {
		return nil, fmt.Errorf("loadgen: rate %v is negative", d.Rate)
	}
	if d.Type == "" {
		d.Type = DefaultEventType
	}
	if d.Source == "" {
		d.Source = DefaultSource
	}
	if d.KeyPrefix == "" {
		var b [6]byte
		rand.Read(b[:])
		d.KeyPrefix = "bench-" + hex.EncodeToString(b[:]) + "-"
	}
	if d.Concurrency <= 0 {
		d.Concurrency = DefaultClosedConcurrency
		if d.Rate > 0 {
			d.Concurrency = DefaultOpenConcurrency
		}
	}
	if d.Timeout <= 0 {
		d.Timeout = 10 * time.Second
	}
	if d.Client == nil {
		d.Client = NewClient(d.Concurrency, d.Timeout)
	}
	urls := d.URLs
	if len(urls) == 0 {
		urls = []string{d.URL}
	}
	endpoints := make([]string, len(urls))
	for i, u := range urls {
		endpoints[i] = strings.TrimRight(u, "/") + "/v1/events"
	}
	endpointOf := func(seq int64) string { return endpoints[int(seq%int64(len(endpoints)))] }

	start := time.Now()
	var deadline time.Time
	if d.Duration > 0 {
		deadline = start.Add(d.Duration)
	}
	limit := int64(d.Count)
	if n := int64(len(d.Seqs)); n > 0 && (limit <= 0 || limit > n) {
		limit = n
	}
	if limit <= 0 {
		limit = -1
	}
	outs := make([][]Request, d.Concurrency)
	var wg sync.WaitGroup
	if d.Rate > 0 {
		backlog := 1 << 16
		if limit > 0 {
			backlog = int(min(limit, int64(backlog)))
		}
		jobs := make(chan work, backlog)
		for w := range d.Concurrency {
			wg.Go(func() {
				for j := range jobs {
					outs[w] = append(outs[w], d.send(ctx, endpointOf(j.seq), d.seqOf(j.seq), j.scheduled))
				}
			})
		}
		d.schedule(ctx, jobs, start, deadline, limit)
		close(jobs)
	} else {
		var next atomic.Int64
		for w := range d.Concurrency {
			wg.Go(func() {
				for ctx.Err() == nil {
					seq := next.Add(1) - 1
					if limit > 0 && seq >= limit {
						return
					}
					now := time.Now()
					if !deadline.IsZero() && !now.Before(deadline) {
						return
					}
					outs[w] = append(outs[w], d.send(ctx, endpointOf(seq), d.seqOf(seq), now))
				}
			})
		}
	}
	wg.Wait()
	res := &Result{Start: start, End: time.Now(), Rate: d.Rate, Concurrency: d.Concurrency}
	for _, o := range outs {
		res.Requests = append(res.Requests, o...)
	}
	slices.SortFunc(res.Requests, func(a, b Request) int { return cmp.Compare(a.Seq, b.Seq) })
	return res, nil
}

// seqOf is the seq of the i-th event sent.
func (d *Driver) seqOf(i int64) int64 {
	if len(d.Seqs) > 0 {
		return d.Seqs[i]
	}
	return d.FirstSeq + i
}

// schedule hands event i to the workers at start + i/rate until the count
// or the deadline is reached. Events that fell due while it waited go out
// together: the driver never drops or delays the schedule itself.
func (d *Driver) schedule(ctx context.Context, jobs chan<- work, start, deadline time.Time, limit int64) {
	interval := float64(time.Second) / d.Rate
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := int64(0); limit < 0 || i < limit; i++ {
		at := start.Add(time.Duration(float64(i) * interval))
		if !deadline.IsZero() && !at.Before(deadline) {
			return
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		select {
		case jobs <- work{seq: i, scheduled: at}:
		case <-ctx.Done():
			return
		}
	}
}

// send posts event seq and classifies the answer.
func (d *Driver) send(ctx context.Context, endpoint string, seq int64, scheduled time.Time) Request {
	r := Request{Seq: seq, Key: d.KeyPrefix + strconv.FormatInt(seq, 10), Scheduled: scheduled}
	body := d.body(seq, scheduled)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		r.ErrKind, r.Err = "request", err.Error()
		d.failed.Add(1)
		d.sent.Add(1)
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", r.Key)
	if d.Token != "" {
		req.Header.Set("Authorization", "Bearer "+d.Token)
	}
	r.Start = time.Now()
	resp, err := d.Client.Do(req)
	if err == nil {
		// Read the answer to its end so the connection is reused.
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		r.Status = resp.StatusCode
	}
	r.End = time.Now()
	d.sent.Add(1)
	switch {
	case err != nil:
		r.ErrKind, r.Err = ErrorKind(err), err.Error()
	case r.Status == http.StatusAccepted:
		d.accepted.Add(1)
		return r
	case r.Status == http.StatusOK:
		// Herald's answer to a repeated Idempotency-Key: not new.
		r.ErrKind, r.Err = "http_200_duplicate", "the server knew this Idempotency-Key already"
	default:
		r.ErrKind, r.Err = "http_"+strconv.Itoa(r.Status), http.StatusText(r.Status)
	}
	d.failed.Add(1)
	return r
}

// body is the short-form event for seq. Numbers are strings so that a
// template renders them exactly (event data numbers are float64).
func (d *Driver) body(seq int64, scheduled time.Time) []byte {
	b := make([]byte, 0, 160)
	b = append(b, `{"type":`...)
	b = strconv.AppendQuote(b, d.Type)
	b = append(b, `,"source":`...)
	b = strconv.AppendQuote(b, d.Source)
	b = append(b, `,"data":{"seq":"`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `","sent_ns":"`...)
	b = strconv.AppendInt(b, scheduled.UnixNano(), 10)
	b = append(b, `"}}`...)
	return b
}

// ErrorKind names the class of a request error for the report.
func ErrorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection_reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken_pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_closed"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}
