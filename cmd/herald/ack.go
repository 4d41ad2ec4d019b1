package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"strings"
)

// runAck acknowledges a run: its wait_ack steps pass, so escalation stops.
func runAck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	by := fs.String("by", envOr("USER", "cli"), "who acknowledges")
	url := fs.String("url", envOr("HERALD_URL", "http://127.0.0.1:8080"), "server base URL ($HERALD_URL)")
	token := fs.String("token", os.Getenv("HERALD_TOKEN"), "API token ($HERALD_TOKEN)")
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	if id == "" {
		return usageError{"ack needs a RUN_ID"}
	}
	body, _ := json.Marshal(map[string]string{"by": *by})
	return postJSON(ctx, *url, *token, "/v1/runs/"+id+"/ack", body, stdout)
}
