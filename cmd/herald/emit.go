package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
)

func runEmit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "event data as JSON")
	subject := fs.String("subject", "", "event subject")
	source := fs.String("source", "herald:cli", "event source")
	id := fs.String("id", "", "event id (with source, the idempotency key; default: generated)")
	url, token := serverFlags(fs)
	typ, err := parseWithArg(fs, args)
	if err != nil {
		return err
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
