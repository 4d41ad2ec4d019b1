package cloudevents

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/herald-notify/herald/internal/herald"
)

// validEvent returns an event that Encode accepts.
func validEvent() herald.Event {
	return herald.Event{
		SpecID: "s-1",
		Source: "/s",
		Type:   "a.b",
		Time:   time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", -3600)),
	}
}

func TestEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(e *herald.Event)
		want   string
	}{
		{"minimal, time in UTC with nanoseconds", func(*herald.Event) {},
			`{"specversion":"1.0","id":"s-1","source":"/s","type":"a.b","time":"2026-01-02T04:04:05.000000006Z"}`},
		{"herald ids", func(e *herald.Event) {
			e.ID = "h-1"
			e.ParentID = "h-0"
			e.Chain = []string{"x"}
			e.IdempotencyKey = "k"
		},
			`{"specversion":"1.0","id":"s-1","source":"/s","type":"a.b","time":"2026-01-02T04:04:05.000000006Z","heraldid":"h-1","heraldparent":"h-0"}`},
		{"extensions of every Go type, sorted", func(e *herald.Event) {
			e.Extensions = map[string]any{"s": "x\"y", "b": true, "f": float64(-3), "i": 4, "i32": int32(5), "i64": int64(6), "n": json.Number("7")}
		},
			`{"specversion":"1.0","id":"s-1","source":"/s","type":"a.b","time":"2026-01-02T04:04:05.000000006Z","b":true,"f":-3,"i":4,"i32":5,"i64":6,"n":7,"s":"x\"y"}`},
		{"JSON data", func(e *herald.Event) { e.Data = json.RawMessage(` {"a": [1, 2]} `) },
			`{"specversion":"1.0","id":"s-1","source":"/s","type":"a.b","time":"2026-01-02T04:04:05.000000006Z","data":{"a": [1, 2]}}`},
		{"null data", func(e *herald.Event) { e.Data = json.RawMessage(`null`) },
			`{"specversion":"1.0","id":"s-1","source":"/s","type":"a.b","time":"2026-01-02T04:04:05.000000006Z","data":null}`},
		{"text data", func(e *herald.Event) { e.DataContentType = "text/plain"; e.Data = json.RawMessage(`"hi\n"`) },
			`{"specversion":"1.0","id":"s-1","source":"/s","type":"a.b","time":"2026-01-02T04:04:05.000000006Z","datacontenttype":"text/plain","data":"hi\n"}`},
		{"binary data", func(e *herald.Event) { e.DataContentType = "image/png"; e.Data = json.RawMessage(`"iVBORw0K"`) },
			`{"specversion":"1.0","id":"s-1","source":"/s","type":"a.b","time":"2026-01-02T04:04:05.000000006Z","datacontenttype":"image/png","data_base64":"iVBORw0K"}`},
		{"escaped strings", func(e *herald.Event) { e.Subject = "tab\there \u2028 <&> \x01"; e.DataSchema = "urn:x" },
			`{"specversion":"1.0","id":"s-1","source":"/s","type":"a.b","subject":"tab\there \u2028 <&> \u0001","time":"2026-01-02T04:04:05.000000006Z","dataschema":"urn:x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := validEvent()
			tt.change(&e)
			got, err := Encode(&e)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Encode (-want +got):\n%s", diff)
			}
			if !json.Valid(got) {
				t.Errorf("Encode output is not valid JSON")
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(e *herald.Event)
		want   string
	}{
		{"no id", func(e *herald.Event) { e.SpecID = "" }, `attribute "id" is empty`},
		{"no source", func(e *herald.Event) { e.Source = "" }, `attribute "source" is empty`},
		{"no type", func(e *herald.Event) { e.Type = "" }, `attribute "type" is empty`},
		{"invalid extension name", func(e *herald.Event) { e.Extensions = map[string]any{"Bad": "x"} }, `"Bad" cannot be an extension attribute name`},
		{"reserved extension name", func(e *herald.Event) { e.Extensions = map[string]any{"heraldid": "x"} }, `"heraldid" cannot be an extension attribute name`},
		{"object extension", func(e *herald.Event) { e.Extensions = map[string]any{"x": map[string]any{}} }, `must be a string, integer or boolean, not map[string]interface {}`},
		{"NaN extension", func(e *herald.Event) { e.Extensions = map[string]any{"x": math.NaN()} }, `NaN is not a JSON number`},
		{"bad json.Number", func(e *herald.Event) { e.Extensions = map[string]any{"x": json.Number("1x")} }, `"1x" is not a JSON number`},
		{"invalid data", func(e *herald.Event) { e.Data = json.RawMessage(`{`) }, `data is not valid JSON`},
		{"binary data not base64", func(e *herald.Event) { e.DataContentType = "image/png"; e.Data = json.RawMessage(`"!!"`) }, `must be a base64 string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := validEvent()
			tt.change(&e)
			got, err := Encode(&e)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Encode = %s, %v; want an error containing %q", got, err, tt.want)
			}
		})
	}
}

// TestAppendString checks the string encoder against encoding/json
// (without its HTML escaping, which Encode does not do).
func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "quote\" backslash\\ slash/", "\x00\x01\x1f\x7f", "\n\r\t\b\f", "é😀\u2028\u2029", "bad\xffutf8\xc3"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendString(%q) = %s, not valid JSON: %v", s, got, err)
			continue
		}
		var want string
		wantJSON, _ := json.Marshal(s)
		_ = json.Unmarshal(wantJSON, &want)
		if back != want {
			t.Errorf("appendString(%q) decodes to %q, want %q", s, back, want)
		}
	}
}
