package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestBroken loads every configuration in testdata/broken (a .yaml file
// or a folder) and compares the errors, one per line, with the .golden
// file of the same name; "-update" rewrites the golden files.
func TestBroken(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(filepath.Join("testdata", "broken"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() && filepath.Ext(name) != ".yaml" {
			continue
		}
		base := strings.TrimSuffix(name, ".yaml")
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", "broken", name)
			cfg, err := Load(path, testOptions())
			if err == nil {
				t.Fatalf("Load succeeded: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Load returned a config with its error")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not Errors: %v", err, err)
			}
			got := err.Error() + "\n"
			for _, secret := range testEnv() {
				if strings.Contains(got, secret) {
					t.Errorf("errors reveal a secret:\n%s", got)
				}
			}
			golden := filepath.Join("testdata", "broken", base+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
