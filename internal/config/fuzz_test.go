package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"good", "broken"} {
		paths, _ := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("a: &a [*a, *a]\nrules: *a\n"))
	f.Add([]byte("rules: [{name: r, on: x, steps: [{emit: {type: y, data: {a: [1, {b: '{{ .c }}'}]}}}]}]"))
	opts := testOptions()
	opts.ReadFile = func(string) ([]byte, error) { return []byte("secret\n"), nil }
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := LoadSources([]Source{{Path: "fuzz.yaml", Data: data}}, opts)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T is not a non-empty Errors: %v", err, err)
			}
			if cfg != nil {
				t.Fatal("config returned with errors")
			}
			_ = err.Error()
			return
		}
		if cfg == nil || cfg.Version == "" {
			t.Fatalf("no config and no error")
		}
	})
}
