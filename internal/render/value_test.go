package render

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValue(t *testing.T) {
	t.Parallel()
	data := testData(t)
	tests := []struct {
		name     string
		in       any
		isString bool
		render   any
		json     string
		text     string
	}{
		{
			name: "mapping",
			in: map[string]any{
				"order_id": "{{ .event.data.order_id }}",
				"total":    12.5,
				"express":  true,
				"note":     nil,
				"{{ .x }}": "keys are not templates",
				"lines":    []any{"{{ .event.data.customer.email }}", uint64(3), map[string]any{"n": "{{ .run.rule }}"}},
			},
			render: map[string]any{
				"order_id": "1042",
				"total":    12.5,
				"express":  true,
				"note":     nil,
				"{{ .x }}": "keys are not templates",
				"lines":    []any{"ada@example.com", uint64(3), map[string]any{"n": "confirm-order"}},
			},
			json: `{"express":true,"lines":["ada@example.com",3,{"n":"confirm-order"}],"note":null,"order_id":"1042","total":12.5,"{{ .x }}":"keys are not templates"}`,
			text: `{"express":true,"lines":["ada@example.com",3,{"n":"confirm-order"}],"note":null,"order_id":"1042","total":12.5,"{{ .x }}":"keys are not templates"}`,
		},
		{
			name:     "string JSON",
			in:       `{"order": {{ json .event.data.order_id }}, "html": "<b>"}`,
			isString: true,
			render:   `{"order": "1042", "html": "<b>"}`,
			json:     `{"order": "1042", "html": "<b>"}`,
			text:     `{"order": "1042", "html": "<b>"}`,
		},
		{
			name:   "list",
			in:     []any{"a", 1, "{{ .steps.ship.status }}"},
			render: []any{"a", 1, "201"},
			json:   `["a",1,"201"]`,
			text:   `["a",1,"201"]`,
		},
		{
			name:   "scalar",
			in:     42,
			render: 42,
			json:   `42`,
			text:   `42`,
		},
		{
			name:   "nil",
			in:     nil,
			render: nil,
			json:   `null`,
			text:   `null`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewValue("body", tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if v.IsString() != tt.isString {
				t.Errorf("IsString() = %v, want %v", v.IsString(), tt.isString)
			}
			got, err := v.Render(data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.render, got); diff != "" {
				t.Errorf("Render() mismatch (-want +got):\n%s", diff)
			}
			js, err := v.RenderJSON(data)
			if err != nil {
				t.Fatal(err)
			}
			if string(js) != tt.json {
				t.Errorf("RenderJSON() = %s, want %s", js, tt.json)
			}
			if !json.Valid(js) {
				t.Errorf("RenderJSON() is not valid JSON: %s", js)
			}
			text, err := v.RenderText(data)
			if err != nil {
				t.Fatal(err)
			}
			if text != tt.text {
				t.Errorf("RenderText() = %s, want %s", text, tt.text)
			}
		})
	}
}

func TestValueText(t *testing.T) {
	t.Parallel()
	v, err := NewValue("body", "order {{ .event.data.order_id }}")
	if err != nil {
		t.Fatal(err)
	}
	data := testData(t)
	if got, err := v.RenderText(data); err != nil || got != "order 1042" {
		t.Errorf("RenderText() = %q, %v; want %q", got, err, "order 1042")
	}
	_, err = v.RenderJSON(data)
	const want = `template "body": rendered text is not valid JSON: invalid character 'o' looking for beginning of value`
	if err == nil || err.Error() != want {
		t.Errorf("RenderJSON() error = %v, want %q", err, want)
	}
}

func TestValueNil(t *testing.T) {
	t.Parallel()
	var v *Value
	if v.IsString() {
		t.Error("nil Value IsString")
	}
	if got, err := v.Render(nil); got != nil || err != nil {
		t.Errorf("Render() = %v, %v", got, err)
	}
	if got, err := v.RenderJSON(nil); got != nil || err != nil {
		t.Errorf("RenderJSON() = %s, %v", got, err)
	}
	if got, err := v.RenderText(nil); got != "" || err != nil {
		t.Errorf("RenderText() = %q, %v", got, err)
	}
}

func TestValueErrors(t *testing.T) {
	t.Parallel()
	_, err := NewValue("body", map[string]any{
		"a": "{{ .x",
		"b": []any{"ok", "{{ nope }}"},
		"c": struct{}{},
	})
	if err == nil {
		t.Fatal("NewValue succeeded")
	}
	want := strings.Join([]string{
		`template "body.a": line 1: unclosed action`,
		`template "body.b[1]": line 1: function "nope" not defined`,
		`body.c: a value of type struct {} cannot be rendered`,
	}, "\n")
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error mismatch (-want +got):\n%s", diff)
	}

	v, err := NewValue("body", map[string]any{"to": "{{ .event.data.customer.phone }}"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.RenderJSON(testData(t))
	const wantExec = `template "body.to": line 1: map has no entry for key "phone" (.event.data.customer.phone)`
	if err == nil || err.Error() != wantExec {
		t.Errorf("RenderJSON() error = %v, want %q", err, wantExec)
	}
}
