package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClusterOptions configure BenchCluster.
type ClusterOptions struct {
	BenchOptions
	// Storage is the PostgreSQL URL every node shares; each run uses a
	// fresh schema, dropped at the end.
	Storage string
	// Nodes is how many `herald serve` processes share it (default 1).
	Nodes int
}

// BenchCluster measures Herald on PostgreSQL with one or more nodes: it
// starts Nodes servers on one fresh schema, sends events round-robin over
// them (as a load balancer would), and reports end-to-end latency, the
// servers' CPU (summed), the rest of the machine's CPU (PostgreSQL's
// backends count there) and the rows written per event.
func BenchCluster(ctx context.Context, o ClusterOptions) (*Report, error) {
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	if o.Binary == "" {
		return nil, errors.New("bench: cluster mode needs the herald binary")
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = time.Minute
	}
	if o.Duration <= 0 && o.Count <= 0 {
		o.Duration = 10 * time.Second
	}
	var b [5]byte
	rand.Read(b[:])
	schema := "bench_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, o.Storage)
	if err != nil {
		return nil, fmt.Errorf("bench: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	defer conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)

	rep := &Report{Date: time.Now().UTC(), Machine: ThisMachine(), Rows: map[string]int64{},
		Server: fmt.Sprintf("%d node(s) on PostgreSQL", o.Nodes)}
	rcv := NewReceiver(nil)
	if err := rcv.Start(o.ReceiverListen); err != nil {
		return nil, err
	}
	defer rcv.Close()
	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "herald.yaml")
	cfg := Config(ConfigOptions{ReceiverURL: rcv.URL(), EventType: o.EventType, Concurrency: o.ChannelConcurrency})
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
	var srvs []*Server
	var urls []string
	for i := 0; i < o.Nodes; i++ {
		srv, err := StartServer(ctx, ServerOptions{Binary: o.Binary, Config: cfgPath, Storage: o.Storage, Schema: schema, Log: scan})
		if err != nil {
			return nil, fmt.Errorf("bench: node %d: %w", i, err)
		}
		defer srv.Kill()
		srvs = append(srvs, srv)
		urls = append(urls, srv.URL)
	}
	probe := &http.Client{Timeout: 5 * time.Second}
	sumCPU := func() time.Duration {
		var t time.Duration
		for _, s := range srvs {
			if u, err := s.Usage(); err == nil {
				t += u.CPU
			}
		}
		return t
	}
	cpu0 := sumCPU()
	self0, selfErr := procUsage(os.Getpid())
	busy0, busyErr := machineBusy()
	span0 := time.Now()
	rows0, err := countRowsPG(ctx, conn, schema)
	if err != nil {
		return nil, err
	}

	d := &Driver{URLs: urls, Type: o.EventType, Token: o.Token, Rate: o.Rate,
		Concurrency: o.Concurrency, Count: o.Count, Duration: o.Duration}
	res, err := d.Run(ctx)
	if err != nil {
		return nil, err
	}
	rep.Loop, rep.Rate, rep.Concurrency = "closed", res.Rate, res.Concurrency
	if res.Rate > 0 {
		rep.Loop = "open"
	}
	accepted := res.Accepted()
	dctx, cancel := context.WithTimeout(ctx, o.DrainTimeout)
	missing, _ := rcv.WaitAll(dctx, accepted)
	cancel()
	if len(missing) == 0 && len(accepted) > 0 {
		// Let every node record its last attempts before reading CPU.
		for _, s := range srvs {
			waitMessagesRecorded(ctx, probe, s.URL, 0)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rep.ServerCPU, rep.CPUSource = sumCPU()-cpu0, "/proc/PID/stat (sum over nodes)"
	if self1, err := procUsage(os.Getpid()); err == nil && selfErr == nil {
		rep.LoadToolCPU = self1.CPU - self0.CPU
	}
	rep.Span = time.Since(span0)
	if busy1, err := machineBusy(); err == nil && busyErr == nil && selfErr == nil {
		rep.OtherCPU = max(0, busy1-busy0-rep.ServerCPU-rep.LoadToolCPU)
	}
	if rows1, err := countRowsPG(ctx, conn, schema); err == nil {
		for _, t := range LedgerTables {
			rep.Rows[t] = rows1[t] - rows0[t]
		}
	} else {
		rep.Notes = append(rep.Notes, err.Error())
	}
	for i, s := range srvs {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := s.Stop(sctx); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("node %d stop: %v", i, err))
		}
		cancel()
	}
	rep.Notes = append(rep.Notes, "other CPU includes the PostgreSQL server's backends, on the same machine")
	rep.fill(res, rcv, accepted, missing)
	return rep, nil
}

// countRowsPG counts the rows of LedgerTables in a schema.
func countRowsPG(ctx context.Context, conn *pgx.Conn, schema string) (map[string]int64, error) {
	out := make(map[string]int64, len(LedgerTables))
	for _, t := range LedgerTables {
		var n int64
		// Names come from LedgerTables and a generated schema, never input.
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+schema+"."+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("count rows: %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}
