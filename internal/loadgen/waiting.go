package loadgen

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// WaitSeqBase is the seq of the first waiting event: far above the seqs
// of the measured phase, so that the receiver never confuses the two.
const WaitSeqBase int64 = 1_000_000_000_000

// WaitLoader puts runs into waiting before a measurement: it posts N
// events of WaitEventType in batches, as fast as the server takes them.
// Event i (seq WaitSeqBase+i) is of kind "event" when i is even (its run
// waits for a WakeEventType event with the same seq) and "delay"
// otherwise (its run sleeps 24 hours); see ConfigOptions.Waits.
type WaitLoader struct {
	URL, Token string
	// N is how many events to post.
	N int
	// Batch is the events per request (default 500, at most
	// DefaultMaxBatch).
	Batch int
	// Concurrency is the number of requests in flight (default 4).
	Concurrency int
	// Client makes the requests (default: a keep-alive client).
	Client *http.Client
}

// WaitLoad is what loading waiting runs did. Durations are nanoseconds
// in JSON.
type WaitLoad struct {
	N            int               `json:"n"`
	Batch        int               `json:"batch"`
	Accepted     int               `json:"accepted"`
	Errors       map[string]int    `json:"errors,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Posted is the time from the first request to the last answer.
	Posted time.Duration `json:"posted_ns"`
	// Ready is the time from the first request until the server had
	// every accepted run waiting (herald_queue_scheduled_jobs).
	Ready time.Duration `json:"ready_ns"`
	// WaitingRuns and Waits are counted in the database once ready:
	// runs with status waiting, and rows of the waits table (event
	// waits registered under their correlation value).
	WaitingRuns int64 `json:"waiting_runs"`
	Waits       int64 `json:"waits"`
}

// EventWaitSeqs returns k seqs of waiting runs of kind "event" among n
// loaded ones, spread evenly over them (k is capped at their number).
func EventWaitSeqs(n, k int) []int64 {
	events := (n + 1) / 2
	k = min(k, events)
	out := make([]int64, k)
	for j := range k {
		out[j] = WaitSeqBase + 2*int64(j*events/k)
	}
	return out
}

// Load posts the events and returns once every request has been answered.
func (l *WaitLoader) Load(ctx context.Context) (*WaitLoad, error) {
	if l.URL == "" || l.N <= 0 {
		return nil, errors.New("loadgen: a wait loader needs a URL and N > 0")
	}
	if l.Batch <= 0 {
		l.Batch = 500
	}
	l.Batch = min(l.Batch, DefaultMaxBatch)
	if l.Concurrency <= 0 {
		l.Concurrency = 4
	}
	if l.Client == nil {
		l.Client = NewClient(l.Concurrency, time.Minute)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	prefix := "wait-" + hex.EncodeToString(rnd[:]) + "-"

	res := &WaitLoad{N: l.N, Batch: l.Batch, Errors: map[string]int{}, ErrorSamples: map[string]string{}}
	starts := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range l.Concurrency {
		wg.Go(func() {
			buf := make([]byte, 0, l.Batch*200)
			for first := range starts {
				buf = append(buf[:0], '[')
				n := min(l.Batch, l.N-first)
				for i := first; i < first+n; i++ {
					if i > first {
						buf = append(buf, ',')
					}
					seq := strconv.FormatInt(WaitSeqBase+int64(i), 10)
					kind := "event"
					if i%2 == 1 {
						kind = "delay"
					}
					buf = appendCloudEvent(buf, prefix+seq, WaitEventType, ceField{"seq", seq}, ceField{"kind", kind})
				}
				buf = append(buf, ']')
				o := postBatch(ctx, l.Client, l.URL, l.Token, buf)
				mu.Lock()
				if o.accepted() {
					res.Accepted += n
				}
				countErrors(res.Errors, res.ErrorSamples, o, n)
				mu.Unlock()
			}
		})
	}
	for first := 0; first < l.N && ctx.Err() == nil; first += l.Batch {
		select {
		case starts <- first:
		case <-ctx.Done():
		}
	}
	close(starts)
	wg.Wait()
	res.Posted = time.Since(start)
	if len(res.Errors) == 0 {
		res.Errors, res.ErrorSamples = nil, nil
	}
	return res, ctx.Err()
}

// WaitMetricAtLeast polls the server's metric name until it reaches want
// or ctx ends.
func WaitMetricAtLeast(ctx context.Context, client *http.Client, baseURL, name string, want float64) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := 0.0
	for {
		v, ok, err := ScrapeMetric(ctx, client, baseURL, name)
		if err == nil && !ok {
			return fmt.Errorf("the server's /metrics has no %s", name)
		}
		if err == nil {
			if v >= want {
				return nil
			}
			last = v
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%s is %.0f, waited for %.0f: %w", name, last, want, ctx.Err())
		}
	}
}

// CountWaiting counts, in Herald's SQLite file (opened read-only), the
// runs that are waiting and the registered event waits.
func CountWaiting(ctx context.Context, path string) (runs, waits int64, err error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return 0, 0, fmt.Errorf("count waiting runs in %s: %w", path, err)
	}
	defer db.Close()
	err = db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM runs WHERE status = 'waiting'),
		(SELECT count(*) FROM waits)`).Scan(&runs, &waits)
	if err != nil {
		return 0, 0, fmt.Errorf("count waiting runs in %s: %w", path, err)
	}
	return runs, waits, nil
}

// WakeReport is what the wake measurement found: events of WakeEventType,
// each correlated with one waiting run among many, and how long from each
// event's scheduled send until the webhook of the run it woke arrived.
type WakeReport struct {
	Sent         int               `json:"sent"`
	Accepted     int               `json:"accepted"`
	Errors       map[string]int    `json:"errors,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Rate         float64           `json:"rate"`
	// Woken is the accepted events whose run's webhook arrived; Missing
	// those that did not within the drain timeout.
	Woken   int `json:"woken"`
	Missing int `json:"missing"`
	// Latency is scheduled send → webhook at the receiver.
	Latency Percentiles `json:"latency"`
	// Ack is scheduled send → 202.
	Ack Percentiles `json:"ack"`
	// Waiting is how many runs were waiting when the events were sent.
	Waiting int `json:"waiting"`
	// OtherCPU is the CPU time other processes used over Span, the
	// measurement (child server only).
	OtherCPU time.Duration `json:"other_cpu_ns,omitempty"`
	Span     time.Duration `json:"cpu_span_ns,omitempty"`
}

// Wake sends one WakeEventType event for each of seqs at rate per second
// (open loop) and waits, at most drain after the last answer, until the
// receiver has the webhook of every run woken.
func Wake(ctx context.Context, baseURL, token string, rcv *Receiver, seqs []int64, rate float64, drain time.Duration) (*WakeReport, error) {
	d := &Driver{URL: baseURL, Token: token, Type: WakeEventType, Rate: rate, Seqs: seqs, Concurrency: 16}
	res, err := d.Run(ctx)
	if err != nil {
		return nil, err
	}
	rep := &WakeReport{Sent: len(res.Requests), Rate: rate, Errors: res.Errors(), ErrorSamples: res.ErrorSamples()}
	accepted := res.Accepted()
	rep.Accepted = len(accepted)
	dctx, cancel := context.WithTimeout(ctx, drain)
	missing, _ := rcv.WaitAll(dctx, accepted)
	cancel()
	rep.Missing = len(missing)
	rep.Woken = rep.Accepted - rep.Missing
	var lat, acks []time.Duration
	for i := range res.Requests {
		q := &res.Requests[i]
		if !q.Accepted() {
			continue
		}
		acks = append(acks, q.Latency())
		if dl, ok := rcv.Delivery(q.Seq); ok {
			lat = append(lat, dl.At.Sub(q.Scheduled))
		}
	}
	rep.Latency, rep.Ack = Summarize(lat), Summarize(acks)
	if len(rep.Errors) == 0 {
		rep.Errors, rep.ErrorSamples = nil, nil
	}
	return rep, nil
}
