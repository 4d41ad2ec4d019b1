package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"strings"
)

func runEmit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "event data as JSON")
	subject := fs.String("subject", "", "event subject")
	source := fs.String("source", "herald:cli", "event source")
	id := fs.String("id", "", "event id (with source, the idempotency key; default: generated)")
	url := fs.String("url", envOr("HERALD_URL", "http://127.0.0.1:8080"), "server base URL ($HERALD_URL)")
	token := fs.String("token", os.Getenv("HERALD_TOKEN"), "API token ($HERALD_TOKEN)")
	// Flags may come after the type: parse the type out first.
	var typ string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		typ, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if typ == "" && fs.NArg() > 0 {
		typ = fs.Arg(0)
	}
	if typ == "" {
		return usageError{"emit needs an event TYPE, e.g. herald emit order.paid --data '{\"order_id\":\"1\"}'"}
	}
	ev := map[string]any{"type": typ, "source": *source}
	if *subject != "" {
		ev["subject"] = *subject
	}
	if *id != "" {
		ev["id"] = *id
	}
	if *data != "" {
		if !json.Valid([]byte(*data)) {
			return usageError{"--data is not valid JSON"}
		}
		ev["data"] = json.RawMessage(*data)
	}
	body, _ := json.Marshal(ev)
	return postJSON(ctx, *url, *token, "/v1/events", body, stdout)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
