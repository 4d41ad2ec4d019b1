package cloudevents

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/herald-notify/herald/internal/herald"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testNow is the clock of test decoders.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600))

// testDecoder returns a decoder with a fixed clock and numbered ids.
func testDecoder(limits Limits) *decoder {
	n := 0
	return &decoder{
		limits: limits,
		now:    func() time.Time { return testNow },
		newID: func() string {
			n++
			return fmt.Sprintf("generated-%d", n)
		},
	}
}

// readRequest reads a test request: header lines, an empty line, then the
// body (without the file's final newline).
func readRequest(t testing.TB, path string) (http.Header, []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := bytes.Cut(raw, []byte("\n\n"))
	if !ok {
		t.Fatalf("%s: no empty line after the headers", path)
	}
	mh, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(head, "\n\n"...)))).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("%s: headers: %v", path, err)
	}
	return http.Header(mh), bytes.TrimSuffix(body, []byte("\n"))
}

// render writes what a golden file records for a valid request: the batch
// flag, the events as JSON, and Encode's output for each event verbatim.
func render(t *testing.T, batch bool, events []herald.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "batch: %v\nevents:\n", batch)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(events); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("encoded:\n")
	for i := range events {
		b, err := Encode(&events[i])
		if err != nil {
			t.Fatalf("Encode(event %d): %v", i, err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// TestDecodeGolden decodes every request in testdata/valid and compares
// the events, and their encoding, with the golden files beside them.
func TestDecodeGolden(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("testdata/valid/*.http")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no test requests: %v", err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".http")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			header, body := readRequest(t, path)
			events, batch, err := testDecoder(Limits{}).decode(header, body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			out := render(t, batch, events)
			goldenPath := strings.TrimSuffix(path, ".http") + ".golden"
			if *update {
				if err := os.WriteFile(goldenPath, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(out)); diff != "" {
				t.Errorf("decoded %s differs from %s (-want +got):\n%s", path, goldenPath, diff)
			}
		})
	}
}
