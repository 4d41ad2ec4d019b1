package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/loadgen"
)

// TestCrashSafety shows that kill -9 loses nothing that was acknowledged:
// it builds the real binary, streams events at a steady rate to a rule
// whose webhook goes to a counting receiver, SIGKILLs the server in the
// middle of the stream, restarts it on the same data folder and port,
// finishes the stream, and checks that every event answered 202 was
// delivered at least once, and that repeated deliveries are redeliveries
// of the same message (same idempotency key), not new messages.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds, runs and kills the real server; skipped in -short mode")
	}
	// Deadlines are generous: they bound a broken run, they do not time a
	// working one (a loaded 2-core machine must pass too).
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := buildHerald(ctx, t, dir)

	rcv := loadgen.NewReceiver(nil)
	if err := rcv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	cfgPath := filepath.Join(dir, "herald.yaml")
	// A short lease (and attempt timeout, which a message's lease adds)
	// so the restarted server takes over the dead one's work quickly.
	cfg := loadgen.Config(loadgen.ConfigOptions{
		ReceiverURL: rcv.URL(), Lease: 2 * time.Second, Timeout: 2 * time.Second,
	})
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &tailBuffer{max: 200}
	defer func() {
		if t.Failed() {
			t.Logf("server log (last lines):\n%s", logs.String())
		}
	}()
	sopts := loadgen.ServerOptions{
		Binary: bin, Config: cfgPath, DB: filepath.Join(dir, "data", "herald.db"), Log: logs,
	}
	first, err := loadgen.StartServer(ctx, sopts)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Kill()

	const (
		rate     = 1000
		streamed = 2400 // events in the stream the kill interrupts
		tail     = 600  // events sent once the restarted server is up
	)
	stream := &loadgen.Driver{URL: first.URL, Rate: rate, Count: streamed, Concurrency: 64, KeyPrefix: "crash-"}
	streamDone := make(chan *loadgen.Result, 1)
	go func() {
		res, err := stream.Run(ctx)
		if err != nil {
			t.Error(err)
		}
		streamDone <- res
	}()

	// Kill after about half the stream has been acknowledged.
	poll(ctx, t, "half of the stream accepted", func() bool {
		_, acc, _ := stream.Progress()
		return acc >= streamed/2
	})
	first.Kill()
	_, accAtKill, failAtKill := stream.Progress()
	// Keep streaming at the dead port for a moment: those requests fail
	// (no 202), so they are not counted as accepted.
	poll(ctx, t, "requests failing against the dead server", func() bool {
		done, _, failed := stream.Progress()
		return failed >= failAtKill+100 || done >= streamed
	})

	sopts.Listen = first.Addr
	second, err := loadgen.StartServer(ctx, sopts)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Kill()
	var res *loadgen.Result
	select {
	case res = <-streamDone:
	case <-ctx.Done():
		t.Fatal("the stream did not finish")
	}
	// Finish with events the restarted server certainly sees, however long
	// the restart took.
	after := &loadgen.Driver{URL: second.URL, Rate: rate, Count: tail, FirstSeq: streamed, KeyPrefix: "crash-"}
	res2, err := after.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}

	accepted := append(res.Accepted(), res2.Accepted()...)
	waitCtx, waitCancel := context.WithTimeout(ctx, 2*time.Minute)
	missing, _ := rcv.WaitAll(waitCtx, accepted)
	waitCancel()

	st := rcv.Stats()
	acceptedSet := make(map[int64]bool, len(accepted))
	for _, s := range accepted {
		acceptedSet[s] = true
	}
	// Events committed just before the kill whose 202 never reached the
	// driver: delivered although not acknowledged, which is allowed.
	unacked := 0
	for seq := int64(0); seq < streamed+tail; seq++ {
		if _, ok := rcv.Delivery(seq); ok && !acceptedSet[seq] {
			unacked++
		}
	}
	t.Logf("sent %d, accepted %d (%d before the kill), errors %v",
		len(res.Requests)+len(res2.Requests), len(accepted), accAtKill, mergeErrors(res, res2))
	t.Logf("delivered %d of the accepted, lost %d; duplicate deliveries %d (same key); delivered without a 202: %d",
		len(accepted)-len(missing), len(missing), st.Duplicates, unacked)

	if len(missing) > 0 {
		t.Errorf("lost %d accepted events (accepted − delivered must be 0); first missing seqs: %v",
			len(missing), missing[:min(len(missing), 20)])
	}
	if st.ExtraKeys > 0 {
		t.Errorf("%d deliveries repeated an event under a new idempotency key; duplicates must carry the key of the first delivery", st.ExtraKeys)
		for _, seq := range accepted {
			if keys := rcv.KeysOf(seq); len(keys) > 1 {
				t.Logf("seq %d arrived under keys %v", seq, keys)
			}
		}
	}
	if st.Malformed > 0 {
		t.Errorf("the receiver got %d deliveries it could not attribute", st.Malformed)
	}
	if len(res2.Accepted()) == 0 {
		t.Errorf("the restarted server accepted none of the last %d events: %v", tail, res2.Errors())
	}
	// How much of the dead server's work the new one claimed from the
	// database (rather than received in-process): informative only.
	if claimed, ok, err := loadgen.ScrapeMetric(ctx, http.DefaultClient, second.URL, "herald_jobs_claimed_total"); err == nil && ok {
		t.Logf("jobs the restarted server claimed from the database: %.0f", claimed)
	}
	if err := second.Stop(ctx); err != nil {
		t.Errorf("stop the restarted server: %v", err)
	}
}

// buildHerald builds this command into dir.
func buildHerald(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(dir, "herald")
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// poll waits until cond holds, failing the test if ctx ends first.
func poll(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

func mergeErrors(rs ...*loadgen.Result) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		for k, v := range r.Errors() {
			out[k] += v
		}
	}
	return out
}

// tailBuffer keeps the last lines written to it, for a failure report.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	lines [][]byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for line := range bytes.Lines(p) {
		b.lines = append(b.lines, bytes.Clone(line))
	}
	if over := len(b.lines) - b.max; over > 0 {
		b.lines = slices.Delete(b.lines, 0, over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.Join(b.lines, nil))
}
