package loadgen

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// WriteText writes the report for people.
func (rep *Report) WriteText(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	loop := fmt.Sprintf("closed loop (saturation), %d connections", rep.Concurrency)
	switch rep.Loop {
	case "open":
		loop = fmt.Sprintf("open loop at %g events/s, %d connections", rep.Rate, rep.Concurrency)
	case "timers":
		loop = fmt.Sprintf("timers, %g coming due per second, posted in batches over %d connections", rep.Rate, rep.Concurrency)
	}
	p("herald bench: %s, %s; server: %s\n", loop, rep.Elapsed.Round(time.Millisecond), rep.Server)
	p("machine:      %d CPUs, %s, %d MiB, %s %s, load average %s at start\n", rep.Machine.CPUs, rep.Machine.CPUModel,
		rep.Machine.MemoryMiB, rep.Machine.GoVersion, rep.Machine.OS, rep.Machine.LoadAvg)
	row := func(name string, q Percentiles) {
		p("              %-26s %9s %9s %9s %9s  (n=%d)\n", name, ms(q.P50), ms(q.P90), ms(q.P99), ms(q.Max), q.N)
	}
	header := func(name string) { p("%-14s%-26s %9s %9s %9s %9s\n", name, "", "p50", "p90", "p99", "max") }
	if w := rep.Waiting; w != nil {
		p("waiting:      %d events of %s posted in batches of %d: %d accepted in %s (%.0f/s), all runs waiting after %s; in the database: %d runs waiting, %d event waits\n",
			w.N, WaitEventType, w.Batch, w.Accepted, w.Posted.Round(time.Millisecond), float64(w.Accepted)/w.Posted.Seconds(),
			w.Ready.Round(time.Millisecond), w.WaitingRuns, w.Waits)
		if len(w.Errors) > 0 {
			p("              errors: %s\n", formatErrors(w.Errors, w.ErrorSamples))
		}
	}
	if w := rep.Wake; w != nil {
		p("wake:         %d events of %s at %g/s, each correlated with one of %d waiting runs: %d accepted, %d woken, %d missing; errors: %s\n",
			w.Sent, WakeEventType, w.Rate, w.Waiting, w.Accepted, w.Woken, w.Missing, formatErrors(w.Errors, w.ErrorSamples))
		header("")
		row("send → woken run's webhook", w.Latency)
		row("request→202", w.Ack)
		if w.Span > 0 {
			p("              other processes used %s of CPU in %s (%.0f%% of one CPU)\n", w.OtherCPU.Round(time.Millisecond),
				w.Span.Round(time.Millisecond), 100*w.OtherCPU.Seconds()/w.Span.Seconds())
		}
	}
	if t := rep.Timers; t != nil {
		p("timers:       %d sent (due over %s, posted %s ahead), %d accepted, %d fired, %d missing; errors: %s\n",
			t.Sent, t.Duration, t.Lead, t.Accepted, t.Fired, t.Missing, formatErrors(t.Errors, t.ErrorSamples))
		p("              %d fired before their due time, %d more than 1s after it; receiver: %d requests, %d duplicate deliveries, %d extra keys, %d malformed\n",
			t.Early, t.Late, rep.Receiver.Requests, rep.Receiver.Duplicates, rep.Receiver.ExtraKeys, rep.Receiver.Malformed)
		header("")
		row("lag (arrival − due)", t.Lag)
		row("batch post → 202", t.Post)
		row("durable ahead of due", t.Ahead)
	} else {
		p("events:       %d sent, %d accepted (%.0f/s)\n", rep.Sent, rep.Accepted, rep.AcceptedPerSec)
		p("errors:       %s\n", formatErrors(rep.Errors, rep.ErrorSamples))
		p("delivered:    %d (%.0f/s end to end), %d missing; receiver: %d requests, %d duplicate deliveries, %d extra keys, %d malformed\n",
			rep.Delivered, rep.DeliveredPerSec, rep.Missing, rep.Receiver.Requests, rep.Receiver.Duplicates,
			rep.Receiver.ExtraKeys, rep.Receiver.Malformed)
		header("latency:")
		row("end to end", rep.EndToEnd)
		row("request→202", rep.Ack)
		row("send lag", rep.SendLag)
	}
	if len(rep.Stages) > 0 {
		p("  server stages, from the ledger:\n")
		for _, name := range StageNames {
			row(name, rep.Stages[name])
		}
	}
	if rep.CPUSource != "" {
		p("server CPU:   %s per event (%s in all, from %s)\n", ms(rep.CPUPerEvent), rep.ServerCPU.Round(time.Millisecond), rep.CPUSource)
	}
	if rep.LoadToolCPU > 0 {
		p("bench CPU:    %s per event (driver and receiver, %s in all)\n", ms(rep.LoadToolCPUPerEvent), rep.LoadToolCPU.Round(time.Millisecond))
	}
	if rep.Span > 0 {
		p("other CPU:    %s used by other processes in %s (%.0f%% of one CPU)\n", rep.OtherCPU.Round(time.Millisecond),
			rep.Span.Round(time.Millisecond), 100*rep.OtherCPU.Seconds()/rep.Span.Seconds())
	}
	if len(rep.Rows) > 0 {
		var parts []string
		for _, t := range LedgerTables {
			parts = append(parts, fmt.Sprintf("%s %d", t, rep.Rows[t]))
		}
		p("database:     %.2f rows per event (%s)\n", rep.RowsPerEvent, strings.Join(parts, ", "))
	}
	if rep.WriteBytes > 0 {
		p("disk writes:  %.0f bytes per event (%d in all)\n", rep.WriteBytesPerE, rep.WriteBytes)
	}
	if rep.Server == "child" {
		p("server log:   %d warnings or errors\n", rep.ServerWarnings)
	}
	for _, n := range rep.Notes {
		p("note:         %s\n", n)
	}
}

func formatErrors(errs map[string]int, samples map[string]string) string {
	if len(errs) == 0 {
		return "none"
	}
	var kinds []string
	for k := range errs {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d (%s)", k, errs[k], samples[k]))
	}
	return strings.Join(parts, "; ")
}

// ms formats a duration in milliseconds with two decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
