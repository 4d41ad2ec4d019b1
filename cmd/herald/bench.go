package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/herald-notify/herald/internal/loadgen"
)

const benchUsage = `Usage: herald bench [flags]

Measures Herald end to end: posts events (one per request) and receives
the webhook every event causes, then reports throughput, latency from each
event's scheduled send time to its webhook's arrival, the request→202
latency, errors, duplicates, and the server's CPU time, database rows and
disk writes per event.

By default it starts this binary as a server of its own (fresh database and
a generated configuration in a temporary folder). With --target it drives a
running server instead, whose configuration must send every event of
--type to the receiver: print one with --print-config --receiver ADDR.

--rate R runs an open loop (event i due at start + i/R, latency counted from
then even if the server falls behind); without it, a closed loop at
saturation with --concurrency connections.

--waiting N first puts N runs into waiting (events of bench.wait posted in
batches: half wait for a correlated bench.wake event that never comes, half
sleep 24h) and measures once the server has them all waiting, so that the
result can be compared with --waiting 0. --wake K then, before the measured
phase, wakes K of them with one correlated event each and reports the time
from each event's send to the woken run's webhook.

--timers R replaces the event measurement by timers: events of bench.timer
whose runs sleep until a due time; the due times are spread at R per second
over --duration, each posted --timer-lead ahead, and the receiver reports
how late each one fired (arrival − due).

Flags:
`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	target := fs.String("target", "", "base URL of a running server to drive (default: start one)")
	db := fs.String("db", "", "with --target: the server's SQLite file, to count the rows written")
	token := fs.String("token", os.Getenv("HERALD_TOKEN"), "with --target: API token ($HERALD_TOKEN)")
	rate := fs.Float64("rate", 0, "events per second, open loop (0: closed loop at saturation)")
	duration := fs.Duration("duration", 10*time.Second, "how long to send events (0: until --count)")
	count := fs.Int("count", 0, "how many events to send at most (0: until --duration)")
	conc := fs.Int("concurrency", 0, fmt.Sprintf("connections (default %d open loop, %d closed loop)",
		loadgen.DefaultOpenConcurrency, loadgen.DefaultClosedConcurrency))
	typ := fs.String("type", loadgen.DefaultEventType, "event type to send")
	receiver := fs.String("receiver", "127.0.0.1:0", "address the webhook receiver listens on")
	drain := fs.Duration("drain-timeout", time.Minute, "how long to wait for the last deliveries")
	chConc := fs.Int("channel-concurrency", 0, "webhook channel concurrency of the started server (0: server default)")
	serverLog := fs.String("server-log", "", "write the started server's log to this file")
	waiting := fs.Int("waiting", 0, "runs to put into waiting before measuring (half event waits, half 24h delays)")
	waitBatch := fs.Int("wait-batch", 500, "events per request when loading --waiting")
	waitTimeout := fs.Duration("wait-timeout", 10*time.Minute, "bound of loading --waiting and waiting until all wait")
	wake := fs.Int("wake", 0, "with --waiting: wake this many waiting runs, one correlated event each, and report the latency")
	wakeRate := fs.Float64("wake-rate", 100, "events per second of --wake")
	timers := fs.Float64("timers", 0, "timer benchmark: timers coming due per second over --duration (replaces the event measurement)")
	timerLead := fs.Duration("timer-lead", 5*time.Second, "how far ahead of its due time each timer is posted")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	storage := fs.String("storage", "", "PostgreSQL URL: start --nodes servers sharing a fresh schema on it and spread the events over them")
	nodes := fs.Int("nodes", 1, "with --storage: how many servers share the database")
	printConfig := fs.Bool("print-config", false, "print the server configuration for --target mode and exit")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("bench takes no arguments, got %q", fs.Args())}
	}
	if *printConfig {
		if *receiver == "127.0.0.1:0" {
			return usageError{"--print-config needs a fixed --receiver address, e.g. 127.0.0.1:9099"}
		}
		maxBatch := 0
		if *waiting > 0 || *timers > 0 {
			maxBatch = loadgen.DefaultMaxBatch
		}
		stdout.Write(loadgen.Config(loadgen.ConfigOptions{
			ReceiverURL: "http://" + *receiver + "/hook", EventType: *typ, Concurrency: *chConc,
			Waits: *waiting > 0, Timers: *timers > 0, MaxBatch: maxBatch,
		}))
		return nil
	}
	if *duration <= 0 && *count <= 0 {
		return usageError{"bench needs a --duration or a --count"}
	}
	if *rate < 0 || *count < 0 || *conc < 0 || *waiting < 0 || *wake < 0 || *timers < 0 || *wakeRate <= 0 {
		return usageError{"--rate, --count, --concurrency, --waiting, --wake and --timers must not be negative, --wake-rate must be positive"}
	}
	if *wake > 0 && *waiting == 0 {
		return usageError{"--wake needs --waiting: it wakes some of the waiting runs"}
	}
	if *timers > 0 && (*duration <= 0 || *rate > 0) {
		return usageError{"--timers needs a --duration (the span of the due times) and no --rate"}
	}
	if *waitBatch <= 0 || *waitBatch > loadgen.DefaultMaxBatch {
		return usageError{fmt.Sprintf("--wait-batch must be between 1 and %d", loadgen.DefaultMaxBatch)}
	}
	opts := loadgen.BenchOptions{
		Target: *target, DB: *db, Token: *token, EventType: *typ, ReceiverListen: *receiver,
		Rate: *rate, Concurrency: *conc, Count: *count, Duration: *duration,
		DrainTimeout: *drain, ChannelConcurrency: *chConc,
		Waiting: *waiting, WaitBatch: *waitBatch, WaitTimeout: *waitTimeout, Wake: *wake, WakeRate: *wakeRate,
		Timers: *timers, TimerLead: *timerLead,
	}
	if *target == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: find the herald binary to start: %w", err)
		}
		opts.Binary = exe
	}
	if *serverLog != "" {
		f, err := os.Create(*serverLog)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		opts.ServerLog = f
	}
	var rep *loadgen.Report
	var err error
	if *storage != "" {
		if *target != "" || *waiting > 0 || *timers > 0 {
			return usageError{"--storage runs its own nodes: it cannot be combined with --target, --waiting or --timers"}
		}
		if *nodes < 1 || *nodes > 16 {
			return usageError{"--nodes must be between 1 and 16"}
		}
		rep, err = loadgen.BenchCluster(ctx, loadgen.ClusterOptions{BenchOptions: opts, Storage: *storage, Nodes: *nodes})
	} else {
		rep, err = loadgen.Bench(ctx, opts)
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.WriteText(stdout)
	return nil
}
