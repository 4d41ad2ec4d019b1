package cloudevents

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/herald-notify/herald/internal/herald"
)

// TestDecode checks the exported entry point: real clock, real ids, and a
// nil error (not a typed nil) on success.
func TestDecode(t *testing.T) {
	t.Parallel()
	before := time.Now()
	events, batch, err := Decode(http.Header{"Content-Type": {"application/json"}},
		[]byte(`{"type":"order.paid","data":{"order":"A-1"}}`), Limits{})
	after := time.Now()
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if batch || len(events) != 1 {
		t.Fatalf("Decode = %d events, batch %v; want 1 event, not a batch", len(events), batch)
	}
	e := events[0]
	if !herald.ValidID(e.SpecID) {
		t.Errorf("SpecID = %q, want a generated id", e.SpecID)
	}
	if e.Time.Before(before) || e.Time.After(after) || e.Time.Location() != time.UTC {
		t.Errorf("Time = %v, want a UTC time between %v and %v", e.Time, before, after)
	}
	if e.ID != "" || !e.ReceivedAt.IsZero() {
		t.Errorf("ID = %q, ReceivedAt = %v; want both left for the engine", e.ID, e.ReceivedAt)
	}
	if e.Source != "herald:api" || e.Type != "order.paid" || string(e.Data) != `{"order":"A-1"}` {
		t.Errorf("event = %+v", e)
	}
}

// TestDecodeDoesNotRetainBody checks that events do not alias the request
// body, which the HTTP layer may reuse for the next request.
func TestDecodeDoesNotRetainBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header http.Header
		body   string
	}{
		{"structured", header("Content-Type", structured), ev(`"subject":"s","x":"y","data":{"a":"b"}`)},
		{"short", header("Content-Type", "application/json"), `{"type":"a.b","data":[1,2,3]}`},
		{"binary JSON", ce("application/json"), `{"a":"b"}`},
		{"binary text", ce("text/plain"), `hello`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(tt.body)
			events, _, err := testDecoder(Limits{}).decode(tt.header, body)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Encode(&events[0])
			if err != nil {
				t.Fatal(err)
			}
			copy(body, bytes.Repeat([]byte("#"), len(body)))
			got, err := Encode(&events[0])
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("event changed with the body (-before +after):\n%s", diff)
			}
		})
	}
}

// TestDecodeModes checks which form each combination of Content-Type and
// ce- headers selects, through what the decoded event looks like.
func TestDecodeModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		header    http.Header
		body      string
		wantBatch bool
		wantID    string
	}{
		{"structured wins over ce- headers", ce(structured), ev(""), false, "1"},
		{"structured, upper case", header("Content-Type", "Application/CloudEvents+JSON; charset=UTF-8"), ev(""), false, "1"},
		{"batch", header("Content-Type", batchCT), "[" + ev("") + "]", true, "1"},
		{"binary with application/json", ce("application/json"), `{}`, false, "b-1"},
		{"binary without content type", ce(""), ``, false, "b-1"},
		{"binary, non-canonical header names", http.Header{"ce-specversion": {"1.0"}, "CE-ID": {"x"}, "ce-Source": {"/s"}, "ce-type": {"a"}}, ``, false, "x"},
		{"short object", header("Content-Type", "application/json"), `{"type":"a","id":"s"}`, false, "s"},
		{"short array", header("Content-Type", "application/json"), `[{"type":"a","id":"s"}]`, true, "s"},
		{"short without content type", http.Header{}, `{"type":"a","id":"s"}`, false, "s"},
		{"short with blank content type", header("Content-Type", " "), `{"type":"a","id":"s"}`, false, "s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, batch, err := testDecoder(Limits{}).decode(tt.header, []byte(tt.body))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if batch != tt.wantBatch || len(events) != 1 || events[0].SpecID != tt.wantID {
				t.Errorf("Decode = %+v, batch %v; want one event with id %q, batch %v", events, batch, tt.wantID, tt.wantBatch)
			}
		})
	}
}

// TestDecodeBatchLimit checks the edges of the batch limit.
func TestDecodeBatchLimit(t *testing.T) {
	t.Parallel()
	items := func(n int) string {
		var b bytes.Buffer
		b.WriteByte('[')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"type":"a"}`)
		}
		b.WriteByte(']')
		return b.String()
	}
	tests := []struct {
		name     string
		limits   Limits
		n        int
		wantCode string
	}{
		{"at the limit", Limits{MaxBatch: 3}, 3, ""},
		{"over the limit", Limits{MaxBatch: 3}, 4, herald.ETOOLARGE},
		{"default limit", Limits{}, DefaultMaxBatch, ""},
		{"over the default limit", Limits{}, DefaultMaxBatch + 1, herald.ETOOLARGE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, _, err := testDecoder(tt.limits).decode(header("Content-Type", "application/json"), []byte(items(tt.n)))
			if code := herald.ErrorCode(err); code != tt.wantCode {
				t.Fatalf("error code = %q (%v), want %q", code, err, tt.wantCode)
			}
			if err == nil && len(events) != tt.n {
				t.Errorf("got %d events, want %d", len(events), tt.n)
			}
		})
	}
}
