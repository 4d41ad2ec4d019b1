package loadgen

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// TimerDriver measures timers: it posts events of TimerEventType whose
// due times are spread evenly at Rate per second, starting Lead after the
// start, for Duration. Each event is posted (in a batch with the others
// due in the same slice of Every) Lead before its due time, so the server
// keeps taking new timers while earlier ones come due. The rule (see
// ConfigOptions.Timers) delays each run until its due time and then sends
// a webhook carrying "due", so the receiver measures how late every timer
// fired.
type TimerDriver struct {
	URL, Token string
	// Rate is timers coming due per second.
	Rate float64
	// Duration is the span the due times cover.
	Duration time.Duration
	// Lead is how far ahead of its due time a timer is posted (default 5s).
	Lead time.Duration
	// Every is the time between batch requests (default 100ms).
	Every time.Duration
	// MaxBatch caps the events of one request (default DefaultMaxBatch).
	MaxBatch int
	// Concurrency is the requests in flight at most (default 8).
	Concurrency int
	// Client makes the requests (default: a keep-alive client).
	Client *http.Client
}

// TimerBatch is one batch request of a timer run.
type TimerBatch struct {
	// First and N are the seqs it carried: First .. First+N-1.
	First, N int64
	// Scheduled is when it was due to be posted.
	Scheduled time.Time
	batchOutcome
}

// TimerResult is what a timer run posted.
type TimerResult struct {
	// Start is the run's start; timer i is due at Start + Lead + i/Rate.
	Start   time.Time
	Lead    time.Duration
	Rate    float64
	Batches []TimerBatch
}

// Due returns the due time of timer seq.
func (r *TimerResult) Due(seq int64) time.Time {
	return r.Start.Add(r.Lead + time.Duration(float64(seq)*float64(time.Second)/r.Rate))
}

// Accepted returns the seqs of the timers the server answered 202 for.
func (r *TimerResult) Accepted() []int64 {
	var out []int64
	for _, b := range r.Batches {
		if b.accepted() {
			for s := b.First; s < b.First+b.N; s++ {
				out = append(out, s)
			}
		}
	}
	return out
}

// Run posts the timers and returns once every request has been answered.
func (d *TimerDriver) Run(ctx context.Context) (*TimerResult, error) {
	if d.URL == "" || d.Rate <= 0 || d.Duration <= 0 {
		return nil, errors.New("loadgen: a timer driver needs a URL, a rate and a duration")
	}
	if d.Lead <= 0 {
		d.Lead = 5 * time.Second
	}
	if d.Every <= 0 {
		d.Every = 100 * time.Millisecond
	}
	if d.MaxBatch <= 0 {
		d.MaxBatch = DefaultMaxBatch
	}
	if d.Concurrency <= 0 {
		d.Concurrency = 8
	}
	if d.Client == nil {
		d.Client = NewClient(d.Concurrency, time.Minute)
	}
	total := int64(d.Duration.Seconds() * d.Rate)
	res := &TimerResult{Start: time.Now(), Lead: d.Lead, Rate: d.Rate}
	// idOf makes the CloudEvents ids unique to this run.
	idPrefix := "timer-" + strconv.FormatInt(res.Start.UnixNano(), 36) + "-"

	jobs := make(chan TimerBatch, 1024)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range d.Concurrency {
		wg.Go(func() {
			var buf []byte
			for b := range jobs {
				buf = append(buf[:0], '[')
				for s := b.First; s < b.First+b.N; s++ {
					if s > b.First {
						buf = append(buf, ',')
					}
					seq := strconv.FormatInt(s, 10)
					due := res.Due(s).UTC().Format(time.RFC3339Nano)
					buf = appendCloudEvent(buf, idPrefix+seq, TimerEventType, ceField{"seq", seq}, ceField{"due", due})
				}
				buf = append(buf, ']')
				b.batchOutcome = postBatch(ctx, d.Client, d.URL, d.Token, buf)
				mu.Lock()
				res.Batches = append(res.Batches, b)
				mu.Unlock()
			}
		})
	}
	// Slice k covers the timers due in [Lead + k·Every, Lead + (k+1)·Every)
	// after the start, and is posted at k·Every.
	timer := time.NewTimer(0)
	<-timer.C
	perSlice := d.Every.Seconds() * d.Rate
	for k := int64(0); ctx.Err() == nil; k++ {
		lo := int64(math.Ceil(float64(k) * perSlice))
		hi := min(int64(math.Ceil(float64(k+1)*perSlice)), total)
		if lo >= total {
			break
		}
		at := res.Start.Add(time.Duration(k) * d.Every)
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		for first := lo; first < hi && ctx.Err() == nil; first += int64(d.MaxBatch) {
			select {
			case jobs <- TimerBatch{First: first, N: min(int64(d.MaxBatch), hi-first), Scheduled: at}:
			case <-ctx.Done():
			}
		}
	}
	close(jobs)
	wg.Wait()
	return res, ctx.Err()
}

// TimerReport is what the timer benchmark measured. Durations are
// nanoseconds in JSON.
type TimerReport struct {
	Rate     float64       `json:"rate"`
	Duration time.Duration `json:"duration_ns"`
	Lead     time.Duration `json:"lead_ns"`
	// Sent and Accepted count timers (events), not requests.
	Sent         int               `json:"sent"`
	Accepted     int               `json:"accepted"`
	Errors       map[string]int    `json:"errors,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Fired is the accepted timers whose webhook arrived; Missing those
	// that did not within the drain timeout.
	Fired   int `json:"fired"`
	Missing int `json:"missing"`
	// Lag is webhook arrival − due time, per fired timer (first
	// delivery); Early counts timers that arrived before their due time
	// (there should be none) and Late those more than a second after it.
	Lag   Percentiles `json:"lag"`
	Early int         `json:"early"`
	Late  int         `json:"late_over_1s"`
	// Post is scheduled post time → 202 of the batch requests, and
	// Ahead how long before its first timer's due time each batch was
	// durable (202): it should stay close to Lead.
	Post  Percentiles `json:"post"`
	Ahead Percentiles `json:"ahead"`
}

// timerReport puts the driver's and the receiver's records together.
func timerReport(d *TimerDriver, res *TimerResult, rcv *Receiver, missing []int64) *TimerReport {
	rep := &TimerReport{Rate: d.Rate, Duration: d.Duration, Lead: res.Lead, Missing: len(missing),
		Errors: map[string]int{}, ErrorSamples: map[string]string{}}
	var post, ahead []time.Duration
	for _, b := range res.Batches {
		rep.Sent += int(b.N)
		countErrors(rep.Errors, rep.ErrorSamples, b.batchOutcome, int(b.N))
		if !b.accepted() {
			continue
		}
		rep.Accepted += int(b.N)
		post = append(post, b.End.Sub(b.Scheduled))
		ahead = append(ahead, res.Due(b.First).Sub(b.End))
	}
	rep.Fired = rep.Accepted - rep.Missing
	var lags []time.Duration
	for _, s := range res.Accepted() {
		dl, ok := rcv.Delivery(s)
		if !ok {
			continue
		}
		if dl.Due.IsZero() { // the body lacked "due": measure from the schedule
			dl.Due = res.Due(s)
		}
		lag := dl.Lag()
		lags = append(lags, lag)
		if lag < 0 {
			rep.Early++
		}
		if lag > time.Second {
			rep.Late++
		}
	}
	rep.Lag, rep.Post, rep.Ahead = Summarize(lags), Summarize(post), Summarize(ahead)
	if len(rep.Errors) == 0 {
		rep.Errors, rep.ErrorSamples = nil, nil
	}
	return rep
}
