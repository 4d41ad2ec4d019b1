package rule

import (
	"strings"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want string
	}{
		{"", "empty condition"},
		{"   ", "empty condition"},
		{"foo > 1", "bad condition: unknown name foo (1:1)"},
		{"event.data.total >", "bad condition: unexpected token EOF"},
		{"1 + 1", "bad condition: expected bool, but got int"},
		{`"x"`, "bad condition: expected bool, but got string"},
		{"env.HOME == nil", "unknown name env"},
		{"event.data.x ==", "bad condition"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			c, err := Compile(tt.src)
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want error containing %q", tt.src, c, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile(%q) error = %q, want it to contain %q", tt.src, err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Compile(%q) error spans lines: %q", tt.src, err)
			}
		})
	}
}

func TestEval(t *testing.T) {
	t.Parallel()
	env := map[string]any{
		"event": map[string]any{
			"type":   "order.paid",
			"source": "shop",
			"data": map[string]any{
				"total":    42.5,
				"currency": "EUR",
				"customer": map[string]any{"email": "ada@example.com", "vip": true},
				"items":    []any{map[string]any{"sku": "a", "qty": 2.0}, map[string]any{"sku": "b", "qty": 1.0}},
				"note":     nil,
			},
		},
		"run":   map[string]any{"rule": "confirm-order"},
		"steps": map[string]any{"ship": map[string]any{"status": 201.0, "response": map[string]any{"tracking": "T1"}}},
	}
	tests := []struct {
		src     string
		want    bool
		wantErr string
	}{
		{src: "event.data.total > 0", want: true},
		{src: "event.data.total > 100", want: false},
		{src: `event.type == "order.paid" && event.data.currency in ["EUR", "USD"]`, want: true},
		{src: "event.data.customer.email != nil", want: true},
		{src: "event.data.customer.vip", want: true},
		{src: "event.data.customer.phone == nil", want: true},
		// Missing intermediate members read as nil instead of failing.
		{src: "event.data.shipping.address.city == nil", want: true},
		{src: "event.data.shipping.address.city != nil", want: false},
		{src: "event.data.note == nil", want: true},
		{src: "event.data.note.text == nil", want: true},
		{src: `event.data["customer"]["email"] endsWith "@example.com"`, want: true},
		{src: "event.data.missing", want: false},
		{src: "event.data?.customer?.vip", want: true},
		{src: "steps.ship.status == 201", want: true},
		{src: `steps.ship.response.tracking == "T1"`, want: true},
		{src: "steps.other.status == nil", want: true},
		{src: `run.rule == "confirm-order"`, want: true},
		{src: "len(event.data.items) == 2", want: true},
		{src: "any(event.data.items, .qty > 1)", want: true},
		{src: "all(event.data.items, .sku != nil)", want: true},
		{src: `(event.data.discount ?? 0) == 0`, want: true},
		{src: "event.data.missing > 0", wantErr: "invalid operation"},
		{src: "len(event.data.missing) > 0", wantErr: "invalid argument for len"},
		{src: "event.data.currency", wantErr: "invalid operation: bool(string)"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			c, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.src, err)
			}
			if c.String() != tt.src {
				t.Errorf("String() = %q, want %q", c.String(), tt.src)
			}
			got, err := c.Eval(env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Eval() = %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval(): %v", err)
			}
			if got != tt.want {
				t.Errorf("Eval() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEvalEmptyEnv(t *testing.T) {
	t.Parallel()
	c, err := Compile("event.data.customer.email != nil")
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []map[string]any{nil, {}, {"event": nil}, {"event": map[string]any{"data": nil}}} {
		got, err := c.Eval(env)
		if err != nil || got {
			t.Errorf("Eval(%v) = %v, %v; want false, nil", env, got, err)
		}
	}
}

func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		"event.data.total > 0",
		`event.type == "order.paid" && event.data.customer.email != nil`,
		"steps.ship.status >= 200 && steps.ship.status < 300",
		"any(event.data.items, .qty > 1)",
		"event.data?.a ?? false",
		`event.data["x"][0].y == nil`,
		"foo",
		"len(",
	} {
		f.Add(seed)
	}
	env := map[string]any{
		"event": map[string]any{"type": "order.paid", "data": map[string]any{"total": 3.0, "items": []any{1.0, "x", nil}, "m": map[string]any{"a": nil}}},
		"run":   map[string]any{},
		"steps": map[string]any{},
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Compile(src)
		if err != nil {
			return
		}
		if c.String() != src {
			t.Errorf("String() = %q, want %q", c.String(), src)
		}
		// Errors are fine; panics are not.
		_, _ = c.Eval(env)
		_, _ = c.Eval(nil)
	})
}
