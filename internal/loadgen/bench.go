package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// BenchOptions configure Bench.
type BenchOptions struct {
	// Target is the base URL of a running server. Its configuration must
	// send every event of EventType to the receiver (see Config and
	// ReceiverListen). Empty: Bench starts Binary as a child process with
	// a generated configuration and a fresh database in a temporary
	// folder.
	Target string
	// Binary is the herald executable to start when Target is empty.
	Binary string
	// DB is the running server's database file, for row counts in Target
	// mode (optional: without it rows are not counted).
	DB string
	// Token is the API bearer token of a Target that needs one.
	Token string
	// EventType is the type of the events sent (default DefaultEventType).
	EventType string
	// ReceiverListen is the receiver's address (default 127.0.0.1:0; a
	// Target's configuration needs a fixed one).
	ReceiverListen string
	// Rate, Concurrency, Count and Duration are the Driver's.
	Rate        float64
	Concurrency int
	Count       int
	Duration    time.Duration
	// DrainTimeout bounds the wait, after the last request, for the
	// receiver to have every accepted event (default 60s).
	DrainTimeout time.Duration
	// ChannelConcurrency is the webhook channel's concurrency in the
	// generated configuration (0: the server's default).
	ChannelConcurrency int
	// ServerLog receives the child server's log (nil: only its warnings
	// and errors are counted, and the first few quoted in the report).
	ServerLog io.Writer

	// Waiting is how many runs to put into waiting before the measured
	// phase (see WaitLoader; the generated configuration gains the rule
	// they need). The measurement starts once the server reports them
	// all waiting (herald_queue_scheduled_jobs).
	Waiting int
	// WaitBatch is the events per request of that load (default 500).
	WaitBatch int
	// WaitTimeout bounds the load and the wait until every run waits
	// (default 10 minutes).
	WaitTimeout time.Duration
	// Wake is how many of the waiting runs of kind "event" to wake, one
	// correlated event each, after the load and before the measured
	// phase; WakeRate is their rate (default 100/s).
	Wake     int
	WakeRate float64
	// Timers, when set, replaces the measured phase by the timer
	// benchmark: timers coming due at this rate per second over
	// Duration (see TimerDriver), posted TimerLead ahead (default 5s).
	Timers    float64
	TimerLead time.Duration
}

// Report is what Bench measured. Durations are nanoseconds in JSON.
type Report struct {
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	// Server is "child" or the Target URL.
	Server string `json:"server"`
	// ServerWarnings counts the child server's log lines at WARN or
	// ERROR level; the first few are in Notes.
	ServerWarnings int `json:"server_warnings"`
	// Loop is "open" (fixed rate) or "closed" (saturation).
	Loop        string        `json:"loop"`
	Rate        float64       `json:"rate,omitempty"`
	Concurrency int           `json:"concurrency"`
	Elapsed     time.Duration `json:"elapsed_ns"`

	Sent     int `json:"sent"`
	Accepted int `json:"accepted"`
	// AcceptedPerSec is accepted events over the time from the first
	// scheduled send to the last answer.
	AcceptedPerSec float64           `json:"accepted_per_s"`
	Errors         map[string]int    `json:"errors"`
	ErrorSamples   map[string]string `json:"error_samples,omitempty"`

	// Delivered is accepted events the receiver got at least once;
	// Missing those it did not get within the drain timeout.
	Delivered int `json:"delivered"`
	Missing   int `json:"missing"`
	// DeliveredPerSec is Delivered over the time from the first scheduled
	// send to the last delivery: end-to-end throughput.
	DeliveredPerSec float64       `json:"delivered_per_s"`
	Receiver        ReceiverStats `json:"receiver"`

	// EndToEnd is scheduled send → webhook at the receiver, per delivered
	// event (first delivery).
	EndToEnd Percentiles `json:"end_to_end"`
	// Ack is scheduled send → 202, per accepted event.
	Ack Percentiles `json:"ack"`
	// SendLag is scheduled send → request started: how far the driver
	// itself fell behind its schedule (it should stay small).
	SendLag Percentiles `json:"send_lag"`

	// ServerCPU is the server's CPU time (user+system) during the run and
	// the drain; CPUSource says where it was read.
	ServerCPU   time.Duration `json:"server_cpu_ns"`
	CPUPerEvent time.Duration `json:"cpu_per_event_ns"`
	CPUSource   string        `json:"cpu_source,omitempty"`
	// LoadToolCPU is this process's CPU time (driver and receiver) over
	// the same span: on a small machine it competes with the server.
	LoadToolCPU         time.Duration `json:"load_tool_cpu_ns"`
	LoadToolCPUPerEvent time.Duration `json:"load_tool_cpu_per_event_ns"`
	// OtherCPU is the CPU time every other process on the machine used
	// over the same span: more than a little means the numbers are skewed
	// by work that is neither Herald nor the benchmark.
	OtherCPU time.Duration `json:"other_cpu_ns"`
	// Span is the time over which the CPU times were taken.
	Span           time.Duration `json:"cpu_span_ns"`
	WriteBytes     int64         `json:"write_bytes,omitempty"`
	WriteBytesPerE float64       `json:"write_bytes_per_event,omitempty"`
	// Rows are the rows added to each ledger table during the run;
	// RowsPerEvent their sum over Accepted.
	Rows         map[string]int64 `json:"rows,omitempty"`
	RowsPerEvent float64          `json:"rows_per_event,omitempty"`
	// Stages split the server's part of the latency, from the ledger's
	// timestamps (see Stages).
	Stages map[string]Percentiles `json:"stages,omitempty"`

	// Waiting is the load of waiting runs before the measured phase,
	// Wake the wake-up measurement among them, Timers the timer
	// benchmark (which replaces the event measurement: Sent and Accepted
	// then count timers).
	Waiting *WaitLoad    `json:"waiting,omitempty"`
	Wake    *WakeReport  `json:"wake,omitempty"`
	Timers  *TimerReport `json:"timers,omitempty"`

	// Notes are problems met while measuring (a counter not read, ...).
	Notes []string `json:"notes,omitempty"`
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	MemoryMiB int64  `json:"memory_mib"`
	GoVersion string `json:"go"`
	OS        string `json:"os"`
	// LoadAvg is /proc/loadavg when the run started: other work on the
	// machine skews every number, and this shows how much there was.
	LoadAvg string `json:"loadavg,omitempty"`
}

// Bench drives a server with the options' load, waits until the receiver
// has every accepted event (bounded by DrainTimeout) and reports. It
// returns an error only when it could not measure at all.
func Bench(ctx context.Context, o BenchOptions) (*Report, error) {
	if o.EventType == "" {
		o.EventType = DefaultEventType
	}
	if o.ReceiverListen == "" {
		o.ReceiverListen = "127.0.0.1:0"
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 60 * time.Second
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 10 * time.Minute
	}
	if o.WakeRate <= 0 {
		o.WakeRate = 100
	}
	if o.Wake > 0 && o.Waiting <= 0 {
		return nil, errors.New("bench: waking runs needs waiting ones (Waiting)")
	}
	rep := &Report{Date: time.Now().UTC(), Machine: ThisMachine(), Rows: map[string]int64{}}
	rcv := NewReceiver(nil)
	if err := rcv.Start(o.ReceiverListen); err != nil {
		return nil, err
	}
	defer rcv.Close()

	var srv *Server
	baseURL, dbPath := o.Target, o.DB
	if o.Target == "" {
		dir, err := os.MkdirTemp("", "herald-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(dir)
		cfgPath := filepath.Join(dir, "herald.yaml")
		cfg := Config(ConfigOptions{ReceiverURL: rcv.URL(), EventType: o.EventType, Concurrency: o.ChannelConcurrency,
			Waits: o.Waiting > 0, Timers: o.Timers > 0, MaxBatch: maxBatchFor(o)})
		if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		scan := &warnScanner{w: o.ServerLog}
		defer func() {
			rep.ServerWarnings = scan.count
			for _, l := range scan.first {
				rep.Notes = append(rep.Notes, "server log: "+l)
			}
		}()
		dbPath = filepath.Join(dir, "data", "herald.db")
		srv, err = StartServer(ctx, ServerOptions{Binary: o.Binary, Config: cfgPath, DB: dbPath, Log: scan})
		if err != nil {
			return nil, err
		}
		defer srv.Kill()
		baseURL = srv.URL
		rep.Server = "child"
	} else {
		rep.Server = o.Target
	}

	probe := &http.Client{Timeout: 5 * time.Second}
	if o.Waiting > 0 {
		if err := loadWaiting(ctx, o, rep, probe, baseURL, dbPath, rcv, srv); err != nil {
			return nil, err
		}
	}
	// Scrape before the CPU times are taken: a scrape costs the server
	// CPU time that grows with the number of jobs (the queue gauges
	// count them).
	msgs0, _, _ := ScrapeMetric(ctx, probe, baseURL, "herald_messages_total")
	cpu0, cpuSrc, err := serverCPU(ctx, srv, probe, baseURL)
	if err != nil {
		rep.Notes = append(rep.Notes, err.Error())
	}
	var usage0 Usage
	if srv != nil {
		usage0, _ = srv.Usage()
	}
	self0, selfErr := procUsage(os.Getpid())
	busy0, busyErr := machineBusy()
	span0 := time.Now()
	var rows0 map[string]int64
	if (srv == nil || o.Waiting > 0) && dbPath != "" {
		if rows0, err = CountRows(ctx, dbPath); err != nil {
			rep.Notes = append(rep.Notes, err.Error())
			dbPath = ""
		}
	}

	var res *Result
	var accepted, missing []int64
	if o.Timers > 0 {
		td := &TimerDriver{URL: baseURL, Token: o.Token, Rate: o.Timers, Duration: o.Duration, Lead: o.TimerLead}
		tres, err := td.Run(ctx)
		if err != nil {
			return nil, err
		}
		accepted = tres.Accepted()
		// Wait for the last timer's due time, then the drain timeout.
		last := tres.Due(int64(o.Duration.Seconds() * o.Timers))
		dctx, cancel := context.WithDeadline(ctx, last.Add(o.DrainTimeout))
		missing, _ = rcv.WaitAll(dctx, accepted)
		cancel()
		rep.Timers = timerReport(td, tres, rcv, missing)
		rep.Loop, rep.Rate, rep.Concurrency = "timers", o.Timers, td.Concurrency
		rep.Elapsed = time.Since(tres.Start)
		res = &Result{Start: tres.Start}
	} else {
		d := &Driver{URL: baseURL, Type: o.EventType, Token: o.Token, Rate: o.Rate,
			Concurrency: o.Concurrency, Count: o.Count, Duration: o.Duration}
		if res, err = d.Run(ctx); err != nil {
			return nil, err
		}
		rep.Loop, rep.Rate, rep.Concurrency = "closed", res.Rate, res.Concurrency
		if res.Rate > 0 {
			rep.Loop = "open"
		}
		accepted = res.Accepted()
		dctx, cancel := context.WithTimeout(ctx, o.DrainTimeout)
		missing, _ = rcv.WaitAll(dctx, accepted)
		cancel()
	}

	// The server records each attempt just after the receiver answers:
	// let it finish before reading its CPU time.
	if len(missing) == 0 && len(accepted) > 0 {
		waitMessagesRecorded(ctx, probe, baseURL, msgs0+float64(len(accepted)))
	}
	if cpu1, _, err := serverCPU(ctx, srv, probe, baseURL); err == nil && cpuSrc != "" {
		rep.ServerCPU, rep.CPUSource = cpu1-cpu0, cpuSrc
	}
	if self1, err := procUsage(os.Getpid()); err == nil && selfErr == nil {
		rep.LoadToolCPU = self1.CPU - self0.CPU
	}
	rep.Span = time.Since(span0)
	if busy1, err := machineBusy(); err == nil && busyErr == nil && rep.CPUSource != "" && selfErr == nil {
		rep.OtherCPU = max(0, busy1-busy0-rep.ServerCPU-rep.LoadToolCPU)
	}
	if srv != nil {
		if u1, err := srv.Usage(); err == nil {
			rep.WriteBytes = u1.WriteBytes - usage0.WriteBytes
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := srv.Stop(sctx); err != nil {
			rep.Notes = append(rep.Notes, "server stop: "+err.Error())
		}
		cancel()
	}
	if dbPath != "" {
		rows1, err := CountRows(ctx, dbPath)
		if err != nil {
			rep.Notes = append(rep.Notes, err.Error())
		} else {
			for _, t := range LedgerTables {
				rep.Rows[t] = rows1[t] - rows0[t]
			}
		}
		if o.Timers == 0 {
			if rep.Stages, err = Stages(ctx, dbPath, res.Start); err != nil {
				rep.Notes = append(rep.Notes, err.Error())
			}
		}
	}
	if o.Timers > 0 {
		rep.Sent, rep.Accepted = rep.Timers.Sent, rep.Timers.Accepted
		rep.Delivered, rep.Missing = rep.Timers.Fired, rep.Timers.Missing
		rep.Errors, rep.ErrorSamples = rep.Timers.Errors, rep.Timers.ErrorSamples
		rep.Receiver = rcv.Stats()
		rep.perEvent()
		return rep, nil
	}
	rep.fill(res, rcv, accepted, missing)
	return rep, nil
}

// maxBatchFor is the server.max_batch the generated configuration needs
// for the batches of the waiting load and the timer benchmark.
func maxBatchFor(o BenchOptions) int {
	if o.Waiting > 0 || o.Timers > 0 {
		return DefaultMaxBatch
	}
	return 0
}

// loadWaiting puts o.Waiting runs into waiting, waits until the server
// has them all waiting, counts them in the database, and wakes o.Wake of
// them if asked.
func loadWaiting(ctx context.Context, o BenchOptions, rep *Report, probe *http.Client, baseURL, dbPath string, rcv *Receiver, srv *Server) error {
	ctx, cancel := context.WithTimeout(ctx, o.WaitTimeout)
	defer cancel()
	sched0, _, err := ScrapeMetric(ctx, probe, baseURL, "herald_queue_scheduled_jobs")
	if err != nil {
		return fmt.Errorf("bench: before loading waiting runs: %w", err)
	}
	start := time.Now()
	l := &WaitLoader{URL: baseURL, Token: o.Token, N: o.Waiting, Batch: o.WaitBatch}
	wl, err := l.Load(ctx)
	if err != nil {
		return fmt.Errorf("bench: load waiting runs: %w", err)
	}
	rep.Waiting = wl
	if wl.Accepted == 0 {
		return fmt.Errorf("bench: none of %d waiting events accepted: %v %v", wl.N, wl.Errors, wl.ErrorSamples)
	}
	if err := WaitMetricAtLeast(ctx, probe, baseURL, "herald_queue_scheduled_jobs", sched0+float64(wl.Accepted)); err != nil {
		return fmt.Errorf("bench: wait until %d runs wait: %w", wl.Accepted, err)
	}
	wl.Ready = time.Since(start)
	if dbPath != "" {
		if wl.WaitingRuns, wl.Waits, err = CountWaiting(ctx, dbPath); err != nil {
			rep.Notes = append(rep.Notes, err.Error())
		}
	}
	if o.Wake > 0 {
		m := startOtherCPU(srv)
		wr, err := Wake(ctx, baseURL, o.Token, rcv, EventWaitSeqs(o.Waiting, o.Wake), o.WakeRate, o.DrainTimeout)
		if err != nil {
			return fmt.Errorf("bench: wake waiting runs: %w", err)
		}
		wr.Waiting = wl.Accepted
		wr.OtherCPU, wr.Span, _ = m.stop()
		rep.Wake = wr
	}
	return nil
}

// otherCPU measures the CPU time used by processes other than the child
// server and this one.
type otherCPU struct {
	srv                *Server
	busy, self, server time.Duration
	at                 time.Time
	err                error
}

func startOtherCPU(srv *Server) *otherCPU {
	m := &otherCPU{srv: srv, at: time.Now()}
	if srv == nil {
		m.err = errors.New("not a child server")
		return m
	}
	u, err := srv.Usage()
	self, err2 := procUsage(os.Getpid())
	busy, err3 := machineBusy()
	m.err = errors.Join(err, err2, err3)
	m.server, m.self, m.busy = u.CPU, self.CPU, busy
	return m
}

// stop returns the other processes' CPU time since the start and the
// span it was taken over.
func (m *otherCPU) stop() (time.Duration, time.Duration, error) {
	if m.err != nil {
		return 0, 0, m.err
	}
	u, err := m.srv.Usage()
	self, err2 := procUsage(os.Getpid())
	busy, err3 := machineBusy()
	if err := errors.Join(err, err2, err3); err != nil {
		return 0, 0, err
	}
	return max(0, busy-m.busy-(u.CPU-m.server)-(self.CPU-m.self)), time.Since(m.at), nil
}

// fill computes the report's numbers from the driver's and the
// receiver's records.
func (rep *Report) fill(res *Result, rcv *Receiver, accepted, missing []int64) {
	rep.Sent = len(res.Requests)
	rep.Accepted = len(accepted)
	rep.Errors = res.Errors()
	rep.ErrorSamples = res.ErrorSamples()
	rep.Receiver = rcv.Stats()
	rep.Missing = len(missing)
	rep.Delivered = rep.Accepted - rep.Missing

	var acks, lags, e2e []time.Duration
	var lastAck time.Time
	for i := range res.Requests {
		q := &res.Requests[i]
		if !q.Start.IsZero() {
			lags = append(lags, q.Start.Sub(q.Scheduled))
		}
		if !q.Accepted() {
			continue
		}
		acks = append(acks, q.Latency())
		if q.End.After(lastAck) {
			lastAck = q.End
		}
	}
	var lastDelivery time.Time
	for _, seq := range accepted {
		if d, ok := rcv.Delivery(seq); ok {
			e2e = append(e2e, d.Latency())
			if d.At.After(lastDelivery) {
				lastDelivery = d.At
			}
		}
	}
	rep.Elapsed = res.End.Sub(res.Start)
	if s := lastAck.Sub(res.Start).Seconds(); s > 0 {
		rep.AcceptedPerSec = float64(rep.Accepted) / s
	}
	if s := lastDelivery.Sub(res.Start).Seconds(); s > 0 {
		rep.DeliveredPerSec = float64(rep.Delivered) / s
	}
	rep.Ack, rep.SendLag, rep.EndToEnd = Summarize(acks), Summarize(lags), Summarize(e2e)
	rep.perEvent()
}

// perEvent divides the totals by the accepted events.
func (rep *Report) perEvent() {
	if rep.Accepted > 0 {
		n := float64(rep.Accepted)
		rep.CPUPerEvent = rep.ServerCPU / time.Duration(rep.Accepted)
		rep.LoadToolCPUPerEvent = rep.LoadToolCPU / time.Duration(rep.Accepted)
		rep.WriteBytesPerE = float64(rep.WriteBytes) / n
		var sum int64
		for _, v := range rep.Rows {
			sum += v
		}
		rep.RowsPerEvent = float64(sum) / n
	}
}

// warnScanner passes the server's log on and keeps its warnings and
// errors. StartServer writes it one line at a time from one goroutine;
// Bench reads it after the server has exited.
type warnScanner struct {
	w     io.Writer
	count int
	first []string
}

func (s *warnScanner) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"level":"WARN"`)) || bytes.Contains(p, []byte(`"level":"ERROR"`)) {
		s.count++
		if len(s.first) < 5 {
			s.first = append(s.first, string(bytes.TrimSpace(p)))
		}
	}
	if s.w != nil {
		return s.w.Write(p)
	}
	return len(p), nil
}

// serverCPU reads the server's CPU time: from /proc for a child, from
// process_cpu_seconds_total at /metrics otherwise.
func serverCPU(ctx context.Context, srv *Server, client *http.Client, baseURL string) (time.Duration, string, error) {
	if srv != nil {
		if u, err := srv.Usage(); err == nil {
			return u.CPU, "/proc/PID/stat", nil
		}
	}
	v, ok, err := ScrapeMetric(ctx, client, baseURL, "process_cpu_seconds_total")
	if err != nil {
		return 0, "", err
	}
	if !ok {
		return 0, "", errors.New("server CPU not measured: /metrics has no process_cpu_seconds_total")
	}
	return time.Duration(v * float64(time.Second)), "process_cpu_seconds_total", nil
}

// waitMessagesRecorded waits, at most a few seconds, until the server's
// herald_messages_total reaches n: the attempts are recorded.
func waitMessagesRecorded(ctx context.Context, client *http.Client, baseURL string, n float64) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		v, _, err := ScrapeMetric(ctx, client, baseURL, "herald_messages_total")
		if err != nil || v >= n {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// ThisMachine describes the machine the process runs on.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				m.MemoryMiB = kb / 1024
			}
		}
	}
	return m
}
