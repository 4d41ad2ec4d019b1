package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// postJSON sends body to a running server's API path and copies the
// answer to stdout; an error status becomes an error with the server's
// problem detail.
func postJSON(ctx context.Context, baseURL, token, path string, body []byte, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("server answered %s: %s", resp.Status, bytes.TrimSpace(out))
	}
	stdout.Write(out)
	return nil
}

// serverFlags adds the flags every command that talks to a server takes.
func serverFlags(fs *flag.FlagSet) (url, token *string) {
	url = fs.String("url", envOr("HERALD_URL", "http://127.0.0.1:8080"), "server base URL ($HERALD_URL)")
	token = fs.String("token", os.Getenv("HERALD_TOKEN"), "API token ($HERALD_TOKEN)")
	return url, token
}

// parseWithArg parses flags that may come before or after one positional
// argument (herald emit TYPE --data …, herald ack RUN_ID --by …) and
// returns that argument ("" when there is none).
func parseWithArg(fs *flag.FlagSet, args []string) (string, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", usageError{err.Error()}
	}
	if arg == "" && fs.NArg() > 0 {
		arg = fs.Arg(0)
	}
	return arg, nil
}
