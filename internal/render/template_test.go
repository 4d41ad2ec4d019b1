package render

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testData returns the fixed run data in testdata/data.json, decoded the
// way the engine decodes JSON (numbers as float64).
func testData(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "data.json"))
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestGolden renders every testdata/*.tmpl and compares the result with
// the .golden file beside it; "-update" rewrites the golden files.
func TestGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "*.tmpl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates in testdata: %v", err)
	}
	data := testData(t)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".tmpl")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			parse := New
			if strings.HasSuffix(name, ".html") {
				parse = NewHTML
			}
			tmpl, err := parse(name, string(src))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.ExecuteFuncs(data, map[string]any{
				"ackURL": func() string { return "https://herald.example.com/ack/m1?t=a&b" },
			})
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(file, ".tmpl") + ".golden"
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
				t.Errorf("%s mismatch (-want +got):\n%s", golden, diff)
			}
			if strings.Contains(got, "<no value>") {
				t.Errorf("output contains <no value>")
			}
		})
	}
}

func TestExecute(t *testing.T) {
	t.Parallel()
	data := testData(t)
	tests := []struct {
		name string
		html bool
		src  string
		want string
	}{
		{name: "field", src: "{{ .event.data.order_id }}", want: "1042"},
		{name: "null prints empty", src: "[{{ .event.data.note }}]", want: "[]"},
		{name: "null prints empty html", html: true, src: "<b>{{ .event.data.note }}</b>", want: "<b></b>"},
		{name: "whole float", src: "{{ .event.data.total }}", want: "1250000"},
		{name: "fraction", src: "{{ (index .event.data.items 0).price }}", want: "19.5"},
		{name: "map prints JSON", src: "{{ .event.data.customer }}", want: `{"email":"ada@example.com","name":"Ada <Lovelace>"}`},
		{name: "list prints JSON", src: "{{ .event.data.tags }}", want: `["vip","gift"]`},
		{name: "html escaping", html: true, src: "<p title='{{ .event.data.customer.name }}'>{{ .event.data.customer.name }}</p>", want: "<p title='Ada &lt;Lovelace&gt;'>Ada &lt;Lovelace&gt;</p>"},
		{name: "html url escaping", html: true, src: `<a href="/o?n={{ .event.data.customer.name }}">x</a>`, want: `<a href="/o?n=Ada%20%3cLovelace%3e">x</a>`},
		{name: "html script", html: true, src: `<script>var n = {{ .event.data.order_id }};</script>`, want: `<script>var n = "1042";</script>`},
		{name: "text does not escape", src: "{{ .event.data.customer.name }}", want: "Ada <Lovelace>"},
		{name: "get present", src: `{{ get .event.data "customer" "email" }}`, want: "ada@example.com"},
		{name: "get missing", src: `[{{ get .event.data "customer" "phone" }}]`, want: "[]"},
		{name: "get through null", src: `[{{ get .event.data "note" "text" }}]`, want: "[]"},
		{name: "get index", src: `{{ get .event.data "items" 1 "sku" }}`, want: "PN-7"},
		{name: "get out of range", src: `[{{ get .event.data "items" 5 }}]`, want: "[]"},
		{name: "get on nil", src: `[{{ get nil "x" }}]`, want: "[]"},
		{name: "default used", src: `{{ get .event.data "nick" | default "friend" }}`, want: "friend"},
		{name: "default null", src: `{{ default "none" .event.data.note }}`, want: "none"},
		{name: "default empty string", src: `{{ default "none" "" }}`, want: "none"},
		{name: "default kept", src: `{{ .event.data.currency | default "USD" }}`, want: "EUR"},
		{name: "default keeps zero", src: `{{ default 5 0 }}`, want: "0"},
		{name: "upper lower trim", src: `{{ upper "ab" }} {{ lower "CD" }} [{{ trim "  x \n" }}] [{{ upper nil }}]`, want: "AB cd [x] []"},
		{name: "join", src: `{{ join ", " .event.data.tags }}`, want: "vip, gift"},
		{name: "join non-list", src: `{{ join "+" .steps.ship.status }}`, want: "201"},
		{name: "join nil", src: `[{{ join ", " nil }}]`, want: "[]"},
		{name: "truncate", src: `{{ truncate 5 "héllo wörld" }}`, want: "héll…"},
		{name: "truncate short", src: `{{ truncate 50 "héllo" }}`, want: "héllo"},
		{name: "truncate exact", src: `{{ truncate 5 "héllo" }}`, want: "héllo"},
		{name: "truncate one", src: `{{ truncate 1 "héllo" }}`, want: "…"},
		{name: "truncate zero", src: `[{{ truncate 0 "héllo" }}]`, want: "[]"},
		{name: "truncate float length", src: `{{ truncate (get .event.data "items" 0 "qty") "hello" }}`, want: "h…"},
		{name: "replace", src: `{{ replace "_" " " "in_transit_now" }}`, want: "in transit now"},
		{name: "contains string", src: `{{ contains "Love" .event.data.customer.name }}`, want: "true"},
		{name: "contains list", src: `{{ contains "gift" .event.data.tags }} {{ contains "x" .event.data.tags }}`, want: "true false"},
		{name: "contains map key", src: `{{ contains "email" .event.data.customer }}`, want: "true"},
		{name: "contains nil", src: `{{ contains "x" nil }}`, want: "false"},
		{name: "formatTime string", src: `{{ formatTime "2006-01-02 15:04" .event.time }}`, want: "2025-03-14 09:26"},
		{name: "formatTime nil", src: `[{{ formatTime "2006" .event.data.note }}]`, want: "[]"},
		{name: "json", src: `{{ json .event.data.customer }}`, want: `{"email":"ada@example.com","name":"Ada <Lovelace>"}`},
		{name: "json string", src: `{{ json "a\"b" }}`, want: `"a\"b"`},
		{name: "ackURL placeholder", src: `[{{ ackURL }}]`, want: "[]"},
		{name: "range int", src: `{{ range 3 }}x{{ end }}`, want: "xxx"},
		{name: "declaration prints nothing", src: `{{ $n := .event.data.order_id }}#{{ $n }}`, want: "#1042"},
		{name: "printf nil", src: `{{ printf "%v" .event.data.note }}`, want: "<nil>"},
		{name: "if on missing via get", src: `{{ if get .event.data "gift_wrap" }}wrap{{ else }}plain{{ end }}`, want: "plain"},
		{name: "define and template", src: `{{ define "x" }}<{{ . }}>{{ end }}{{ template "x" .event.data.order_id }}`, want: "<1042>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parse := New
			if tt.html {
				parse = NewHTML
			}
			tmpl, err := parse(tt.name, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if tmpl.Source() != tt.src || tmpl.Name() != tt.name {
				t.Errorf("Source(), Name() = %q, %q; want %q, %q", tmpl.Source(), tmpl.Name(), tt.src, tt.name)
			}
			got, err := tmpl.Execute(data)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	data := testData(t)
	tests := []struct {
		name string
		html bool
		src  string
		// parse is the expected parse error; exec the execution error.
		parse, exec string
		line        int
	}{
		{
			name: "order-confirmation",
			src:  "Hello\n{{ .event.data.customer.phone }}",
			exec: `template "order-confirmation": line 2: map has no entry for key "phone" (.event.data.customer.phone)`,
			line: 2,
		},
		{
			name: "missing-html",
			html: true,
			src:  "<p>\n\n{{ .event.data.shipping.city }}</p>",
			exec: `template "missing-html": line 3: map has no entry for key "shipping" (.event.data.shipping.city)`,
			line: 3,
		},
		{
			name: "through-null",
			src:  "{{ .event.data.note.text }}",
			exec: `template "through-null": line 1: cannot read "text" of null (.event.data.note.text)`,
			line: 1,
		},
		{
			name:  "unknown-func",
			src:   "a\n{{ sprig .x }}",
			parse: `template "unknown-func": line 2: function "sprig" not defined`,
			line:  2,
		},
		{
			name:  "unclosed",
			src:   "{{ .x",
			parse: `template "unclosed": line 1: unclosed action`,
			line:  1,
		},
		{
			name:  "html-context",
			html:  true,
			src:   `<a href="{{ .x }}>`,
			parse: `template "html-context": ends inside a tag, attribute, quote or comment; close it`,
		},
		{
			name:  "recursion",
			src:   `{{ define "a" }}{{ template "b" . }}{{ end }}{{ define "b" }}{{ template "a" . }}{{ end }}{{ template "a" . }}`,
			parse: `template "recursion": template "a" invokes itself (a → b → a); recursion is not allowed`,
		},
		{
			name:  "recursion-html",
			html:  true,
			src:   `{{ define "a" }}<b>{{ template "a" . }}</b>{{ end }}`,
			parse: `template "recursion-html": template "a" invokes itself (a → a); recursion is not allowed`,
		},
		{
			name: "big-range",
			src:  "x\n{{ range 1000000 }}.{{ end }}",
			exec: `template "big-range": line 2: range over 1000000: at most 1000 iterations are allowed`,
			line: 2,
		},
		{
			name: "formatTime-bad",
			src:  `{{ formatTime "2006" .event.data.currency }}`,
			exec: `template "formatTime-bad": line 1: error calling formatTime: "EUR" is not an RFC 3339 time (formatTime "2006" .event.data.currency)`,
			line: 1,
		},
		{
			name: "truncate-bad",
			src:  `{{ truncate 1.5 "x" }}`,
			exec: `template "truncate-bad": line 1: error calling truncate: length 1.5 is not an integer`,
			line: 1,
		},
		{
			name: "too-large",
			src:  `{{ range 1000 }}{{ printf "%999999d" 1 }}{{ end }}`,
			exec: `template "too-large": output exceeds 4194304 bytes`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parse := New
			if tt.html {
				parse = NewHTML
			}
			tmpl, err := parse(tt.name, tt.src)
			if tt.parse != "" {
				checkError(t, err, tt.parse, tt.line)
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			out, err := tmpl.Execute(data)
			if out != "" {
				t.Errorf("failed execution returned output %q", out)
			}
			checkError(t, err, tt.exec, tt.line)
		})
	}
}

func checkError(t *testing.T, err error, want string, line int) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error:\n got %q\nwant %q", err, want)
	}
	var rerr *Error
	if !errors.As(err, &rerr) {
		t.Fatalf("error %T is not a *render.Error", err)
	}
	if line != 0 && rerr.Line != line {
		t.Errorf("Line = %d, want %d", rerr.Line, line)
	}
	if rerr.Unwrap() == nil {
		t.Errorf("Unwrap() = nil")
	}
}

// TestExecuteFuncsConcurrent renders the same templates from many
// goroutines, each with its own ackURL, under -race.
func TestExecuteFuncsConcurrent(t *testing.T) {
	t.Parallel()
	text, err := New("t", `{{ .n }}:{{ ackURL }}`)
	if err != nil {
		t.Fatal(err)
	}
	html, err := NewHTML("h", `<a href="{{ ackURL }}">{{ .n }}</a>`)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := fmt.Sprintf("https://h.example/ack/%d", i)
			data := map[string]any{"n": i}
			funcs := map[string]any{"ackURL": func() string { return url }}
			check := func(tmpl *Template, funcs map[string]any, want string) {
				got, err := tmpl.ExecuteFuncs(data, funcs)
				if err != nil {
					errs <- err
				} else if got != want {
					errs <- fmt.Errorf("%s: got %q, want %q", tmpl.Name(), got, want)
				}
			}
			check(text, funcs, fmt.Sprintf("%d:%s", i, url))
			check(html, funcs, fmt.Sprintf(`<a href="%s">%d</a>`, url, i))
			check(text, nil, fmt.Sprintf("%d:", i))
			check(html, nil, fmt.Sprintf(`<a href="">%d</a>`, i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestExecuteFuncsErrors(t *testing.T) {
	t.Parallel()
	tmpl, err := New("t", `{{ ackURL }}`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		funcs map[string]any
		want  string
	}{
		{"unknown", map[string]any{"now": func() time.Time { return time.Time{} }}, `function "now" cannot be replaced`},
		{"not a func", map[string]any{"ackURL": "x"}, `replacement is a string, not a function`},
		{"nil func", map[string]any{"ackURL": (func() string)(nil)}, `not a function`},
		{"bad results", map[string]any{"ackURL": func() (string, string) { return "", "" }}, `must return one value, or a value and an error`},
		{"wrong arity", map[string]any{"ackURL": func(string) string { return "" }}, `wrong number of args for ackURL`},
		{"failing", map[string]any{"ackURL": func() (string, error) { return "", errors.New("no message id") }}, `no message id`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tmpl.ExecuteFuncs(nil, tt.funcs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ExecuteFuncs() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzTemplate(f *testing.F) {
	for _, seed := range []string{
		"Hello {{ .event.data.customer.name }}",
		`{{ range .event.data.items }}{{ .sku }} {{ end }}`,
		`{{ get .event.data "x" | default "y" | upper }}`,
		`{{ truncate 3 .event.data.message }}{{ json . }}`,
		`{{ formatTime "2006" .event.time }}{{ join ", " .event.data.tags }}`,
		`{{ define "a" }}{{ template "a" . }}{{ end }}{{ template "a" . }}`,
		`{{ with .event.data.note }}x{{ else }}y{{ end }}`,
		`{{ $x := 1 }}{{ $x = 2 }}{{ $x }}{{ range $i, $e := .event.data.tags }}{{ $i }}{{ break }}{{ end }}`,
		`<a href="{{ ackURL }}">{{ .event.data.note }}</a>`,
		"{{ .nope }}",
		"{{",
	} {
		f.Add(seed)
	}
	data := testData(f)
	f.Fuzz(func(t *testing.T, src string) {
		for _, parse := range []func(string, string) (*Template, error){New, NewHTML} {
			tmpl, err := parse("fuzz", src)
			if err != nil {
				var rerr *Error
				if !errors.As(err, &rerr) {
					t.Fatalf("parse error %T is not a *render.Error: %v", err, err)
				}
				continue
			}
			out, err := tmpl.Execute(data)
			if err == nil && strings.Contains(out, "<no value>") && !strings.Contains(src, "no value") {
				t.Errorf("output %q contains <no value>", out)
			}
			_, _ = tmpl.ExecuteFuncs(data, map[string]any{"ackURL": func() string { return "u" }})
		}
	})
}
