package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/app"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("channels:\n  c: {type: log}\nrules:\n  - name: r\n    on: a\n    steps:\n      - notify: {channel: missing}\n"), 0o600)
	tests := []struct {
		name    string
		args    []string
		wantErr string
		out     string
	}{
		{"demo example", []string{"check", "--config", "../../internal/app/demo/herald.yaml"}, "", "ok (version"},
		{"broken", []string{"check", "--config", bad}, "configuration is invalid", `bad.yaml:7:`},
		{"no config", []string{"check"}, "check needs --config", ""},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("err = %v\n%s", err, stderr.String())
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if !strings.Contains(stdout.String()+stderr.String(), tc.out) {
				t.Errorf("output %q lacks %q", stdout.String()+stderr.String(), tc.out)
			}
		})
	}
}

func TestEmit(t *testing.T) {
	t.Parallel()
	a, err := app.New(context.Background(), app.Options{Listen: "127.0.0.1:0", DBPath: filepath.Join(t.TempDir(), "h.db")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"emit", "order.paid", "--data", `{"order_id":"9","total":3}`, "--url", a.URL()}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("emit: %v %s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"runs":2`) {
		t.Errorf("emit output %q", stdout.String())
	}
	err = run(context.Background(), []string{"emit", "x", "--data", `{bad`, "--url", a.URL()}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("bad data: %v", err)
	}
}
