package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
)

// runAck acknowledges a run: its wait_ack steps pass, so escalation stops.
func runAck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	by := fs.String("by", envOr("USER", "cli"), "who acknowledges")
	url, token := serverFlags(fs)
	id, err := parseWithArg(fs, args)
	if err != nil {
		return err
	}
	if id == "" {
		return usageError{"ack needs a RUN_ID"}
	}
	body, _ := json.Marshal(map[string]string{"by": *by})
	return postJSON(ctx, *url, *token, "/v1/runs/"+id+"/ack", body, stdout)
}
