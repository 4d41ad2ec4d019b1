package cloudevents

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/herald-notify/herald/internal/herald"
)

// fuzzHeader builds request headers from a Content-Type and "name: value"
// lines.
func fuzzHeader(ct, lines string) http.Header {
	h := http.Header{}
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	for _, line := range strings.Split(lines, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			h.Add(k, v)
		}
	}
	return h
}

// addSeeds adds every valid test request, and a few invalid ones, to the
// corpus as (content type, other headers, body).
func addSeeds(f *testing.F) {
	paths, err := filepath.Glob("testdata/valid/*.http")
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed requests: %v", err)
	}
	for _, path := range paths {
		h, body := readRequest(f, path)
		ct := h.Get("Content-Type")
		h.Del("Content-Type")
		var lines []string
		for k, vs := range h {
			for _, v := range vs {
				lines = append(lines, k+": "+v)
			}
		}
		f.Add(ct, strings.Join(lines, "\n"), body)
	}
	f.Add("application/json", "", []byte(`[{"type":"a"},{"type":"b","x":1,"data_base64":"e30="}]`))
	f.Add("application/cloudevents+json", "", []byte(ev(`"data_base64":"AA==","datacontenttype":"text/plain"`)))
	f.Add("text/plain", "Ce-Specversion: 1.0\nCe-Id: 1\nCe-Source: /s\nCe-Type: t\nCe-X: %41", []byte("hi"))
	f.Add("", "Ce-Specversion: 1.0\nCe-Id: 1\nCe-Source: /s\nCe-Type: t", []byte("\x00\xff"))
}

// FuzzDecode checks that Decode never panics, that a failure is always a
// client error with a message (and details that point into the batch),
// and that a success yields complete events that Encode can render.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, ct, headers string, body []byte) {
		const maxBatch = 5
		events, batch, err := testDecoder(Limits{MaxBatch: maxBatch}).decode(fuzzHeader(ct, headers), body)
		if err != nil {
			var he *herald.Error
			if !errors.As(err, &he) {
				t.Fatalf("error %v (%T) is not a *herald.Error", err, err)
			}
			if he.Code != herald.EINVALID && he.Code != herald.ETOOLARGE {
				t.Fatalf("error code %q, want invalid or too_large: %v", he.Code, err)
			}
			if he.Message == "" || !utf8.ValidString(he.Message) {
				t.Fatalf("error message %q is empty or not UTF-8", he.Message)
			}
			if events != nil {
				t.Fatalf("%d events returned with an error", len(events))
			}
			last := -1
			for _, d := range he.Details {
				if d.Index <= last || d.Index >= maxBatch || (!batch && d.Index != 0) || d.Message == "" {
					t.Fatalf("detail index %d out of order or out of range: %+v", d.Index, he.Details)
				}
				last = d.Index
			}
			return
		}
		if len(events) == 0 || (!batch && len(events) != 1) || len(events) > maxBatch {
			t.Fatalf("%d events, batch %v", len(events), batch)
		}
		for i := range events {
			e := &events[i]
			if e.Type == "" || e.Source == "" || e.SpecID == "" {
				t.Fatalf("event %d lacks type, source or id: %+v", i, e)
			}
			if e.ID != "" || !e.ReceivedAt.IsZero() || e.ParentID != "" {
				t.Fatalf("event %d has engine fields set: %+v", i, e)
			}
			if e.Time.IsZero() || e.Time.Location() != time.UTC {
				t.Fatalf("event %d time %v is not a UTC time", i, e.Time)
			}
			if e.Data != nil && !json.Valid(e.Data) {
				t.Fatalf("event %d data is not valid JSON: %q", i, e.Data)
			}
			for k, v := range e.Extensions {
				switch v.(type) {
				case string, bool, float64:
				default:
					t.Fatalf("event %d extension %q has type %T", i, k, v)
				}
			}
			if _, err := Encode(e); err != nil {
				t.Fatalf("Encode(event %d): %v", i, err)
			}
		}
	})
}

// FuzzRoundTrip checks that every event Decode accepts comes back the
// same from Decode(Encode(event)), and that Encode is then stable.
func FuzzRoundTrip(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, ct, headers string, body []byte) {
		events, _, err := testDecoder(Limits{}).decode(fuzzHeader(ct, headers), body)
		if err != nil {
			return
		}
		for i := range events {
			enc, err := Encode(&events[i])
			if err != nil {
				t.Fatalf("Encode(event %d): %v", i, err)
			}
			// A different clock proves that a time, once set, is carried.
			d := testDecoder(Limits{})
			d.now = func() time.Time { return testNow.Add(time.Hour) }
			again, _, err := d.decode(http.Header{"Content-Type": {mediaStructured}}, enc)
			if err != nil {
				t.Fatalf("decoding Encode(event %d) = %s: %v", i, enc, err)
			}
			if diff := cmp.Diff(events[i], again[0]); diff != "" {
				t.Fatalf("event %d changed in a round trip through %s (-before +after):\n%s", i, enc, diff)
			}
			enc2, err := Encode(&again[0])
			if err != nil || string(enc2) != string(enc) {
				t.Fatalf("Encode is not stable: %s, then %s (%v)", enc, enc2, err)
			}
		}
	})
}
