package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ServerOptions say how to start a Herald server as a child process.
type ServerOptions struct {
	// Binary is the herald executable.
	Binary string
	// Config is the configuration file; DB the SQLite database file.
	Config, DB string
	// Storage, when set, replaces DB: a postgres:// URL shared by several
	// servers, with Schema the PostgreSQL schema.
	Storage, Schema string
	// Listen is the address to serve on (default 127.0.0.1:0; pass the
	// address of an earlier process to restart on the same port).
	Listen string
	// Log receives the server's log lines (JSON); nil discards them.
	Log io.Writer
	// Env is added to the server's environment.
	Env []string
}

// Server is a Herald server running as a child process.
type Server struct {
	cmd *exec.Cmd
	// Addr is the address it serves on; URL its base URL.
	Addr, URL string

	done    chan struct{}
	waitErr error
}

// StartServer starts `herald serve` and returns once it answers /readyz,
// or fails if it exits first or ctx ends. The child gets SIGKILL if this
// process dies, so an interrupted benchmark leaves no server behind.
func StartServer(ctx context.Context, o ServerOptions) (*Server, error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	args := []string{"serve", "--config", o.Config, "--listen", o.Listen, "--log-format", "json"}
	if o.Storage != "" {
		args = append(args, "--storage", o.Storage)
		if o.Schema != "" {
			args = append(args, "--schema", o.Schema)
		}
	} else {
		args = append(args, "--db", o.DB)
	}
	cmd := exec.Command(o.Binary, args...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stdout = o.Log
	setParentDeathSignal(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{})}
	addrc := make(chan string, 1)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		copyLog(stderr, o.Log, addrc)
	}()
	go func() {
		<-logDone // Wait closes the pipe: read it to its end first
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	select {
	case s.Addr = <-addrc:
	case <-s.done:
		return nil, fmt.Errorf("server exited before serving: %w", s.exitErr())
	case <-ctx.Done():
		s.Kill()
		return nil, fmt.Errorf("server did not start: %w", ctx.Err())
	}
	s.URL = "http://" + s.Addr
	if err := s.waitReady(ctx); err != nil {
		s.Kill()
		return nil, err
	}
	return s, nil
}

// copyLog copies the server's log to w and sends the listening address
// from the "herald serving" line to addrc.
func copyLog(r io.Reader, w io.Writer, addrc chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	var out []byte
	for sc.Scan() {
		line := sc.Bytes()
		out = append(append(out[:0], line...), '\n')
		w.Write(out)
		if found {
			continue
		}
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "herald serving" && rec.Addr != "" {
			found = true
			addrc <- rec.Addr
		}
	}
	io.Copy(w, r)
}

// waitReady polls /readyz until it answers 200.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-s.done:
			return fmt.Errorf("server exited before it was ready: %w", s.exitErr())
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w", ctx.Err())
		}
	}
}

func (s *Server) exitErr() error {
	if s.waitErr == nil {
		return errors.New("exit status 0")
	}
	return s.waitErr
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Server) Kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// Stop sends SIGTERM and waits for a clean exit; if ctx ends first it
// kills the process. It returns the exit error, if any.
func (s *Server) Stop(ctx context.Context) error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.waitErr
	case <-ctx.Done():
		s.Kill()
		return fmt.Errorf("server did not stop in time, killed: %w", ctx.Err())
	}
}

// Done is closed when the process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Usage is what the operating system accounted to the server process.
type Usage struct {
	// CPU is user plus system time.
	CPU time.Duration
	// WriteBytes is what the process caused to be written to storage
	// (/proc/PID/io write_bytes).
	WriteBytes int64
}

// Usage reads the running server's CPU time and storage writes from /proc
// (Linux only).
func (s *Server) Usage() (Usage, error) { return procUsage(s.PID()) }
