package config

import (
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
)

func TestLoadGood(t *testing.T) {
	t.Parallel()
	cfg, err := Load(filepath.Join("testdata", "good"), testOptions())
	if err != nil {
		t.Fatal(err)
	}

	wantServer := Server{
		Listen:          "0.0.0.0:8080",
		Token:           channel.Secret("tok-s3cret"),
		PublicURL:       "https://herald.example.com",
		MaxBody:         512 << 10,
		MaxBatch:        500,
		ShutdownTimeout: 30 * time.Second,
	}
	if diff := cmp.Diff(wantServer, cfg.Server); diff != "" {
		t.Errorf("Server mismatch (-want +got):\n%s", diff)
	}
	if cfg.Storage.Path != "/var/lib/herald/herald.db" {
		t.Errorf("Storage.Path = %q", cfg.Storage.Path)
	}
	wantDelivery := Delivery{
		MaxAttempts:    5,
		BackoffInitial: 2 * time.Second,
		BackoffMax:     time.Hour,
		Timeout:        20 * time.Second,
		Lease:          15 * time.Second, // default
		Concurrency:    8,
		MaxEmitDepth:   8, // default
	}
	if diff := cmp.Diff(wantDelivery, cfg.Delivery); diff != "" {
		t.Errorf("Delivery mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Retention{Events: 7 * 24 * time.Hour, Idempotency: 36 * time.Hour}, cfg.Retention); diff != "" {
		t.Errorf("Retention mismatch (-want +got):\n%s", diff)
	}
	wantNet := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.0.0.0/8"),
	}
	if diff := cmp.Diff(wantNet, cfg.Network.AllowPrivate, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("AllowPrivate mismatch (-want +got):\n%s", diff)
	}

	// Channels: common fields, settings from the URL overridden by
	// explicit fields, secrets expanded, and the built-in "http".
	type chanView struct {
		Type        string
		Settings    any
		Concurrency int
		Timeout     time.Duration
		MaxAttempts int
		Line        int
	}
	gotChans := map[string]chanView{}
	for name, ch := range cfg.Channels {
		if ch.Name != name {
			t.Errorf("channel %q has Name %q", name, ch.Name)
		}
		gotChans[name] = chanView{ch.Type, ch.Settings, ch.Concurrency, ch.Timeout, ch.MaxAttempts, ch.Pos.Line}
	}
	wantChans := map[string]chanView{
		"mail": {Type: "email", Settings: &emailSettings{
			Host: "smtp.example.com", Port: 587, Username: "shop", Password: "smtp-p@ss", From: "Shop <shop@example.com>",
		}, Concurrency: 4, Timeout: 30 * time.Second, MaxAttempts: 3, Line: 23},
		"warehouse": {Type: "webhook", Settings: &webhookSettings{URL: "https://warehouse.example.com/api", Secret: "wh-s3cret"}, Line: 30},
		"audit":     {Type: "log", Settings: &logSettings{}, Line: 34},
		"http":      {Type: "webhook", Settings: &webhookSettings{}},
	}
	if diff := cmp.Diff(wantChans, gotChans); diff != "" {
		t.Errorf("Channels mismatch (-want +got):\n%s", diff)
	}

	tmpl := cfg.Templates["order-confirmation"]
	if tmpl == nil || tmpl.Subject == nil || tmpl.Text == nil || tmpl.HTML == nil {
		t.Fatalf("template order-confirmation = %+v", tmpl)
	}
	data := map[string]any{"event": map[string]any{"data": map[string]any{"order_id": "A<1>", "customer": map[string]any{}}}}
	for _, tc := range []struct {
		name string
		got  func() (string, error)
		want string
	}{
		{"subject", func() (string, error) { return tmpl.Subject.Execute(data) }, "Order A<1> confirmed"},
		{"text", func() (string, error) { return tmpl.Text.Execute(data) }, "Hello customer,\nthank you for your order A<1>.\n"},
		{"html", func() (string, error) { return tmpl.HTML.Execute(data) }, "<p>Order <b>A&lt;1&gt;</b></p>"},
	} {
		got, err := tc.got()
		if err != nil || got != tc.want {
			t.Errorf("template %s = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}

	// Rules, in file order, with their steps.
	type stepView struct {
		Name, Kind, If string
		Channel        string
		Template       string
		To             []string
		Priority       int
		Method, URL    string
		Headers        map[string]string
		Body           string
		EmitType       string
	}
	type ruleView struct {
		Name     string
		On       []string
		If, Key  string
		Priority int
		Steps    []stepView
	}
	var gotRules []ruleView
	for _, r := range cfg.Rules {
		rv := ruleView{Name: r.Name, Priority: r.Priority}
		for _, p := range r.On {
			rv.On = append(rv.On, p.String())
		}
		if r.If != nil {
			rv.If = r.If.String()
		}
		if r.Key != nil {
			rv.Key = r.Key.Source()
		}
		for _, s := range r.Steps {
			sv := stepView{Name: s.Name, Kind: s.Kind}
			if s.If != nil {
				sv.If = s.If.String()
			}
			switch {
			case s.Notify != nil:
				sv.Channel, sv.Template, sv.Priority = s.Notify.Channel, s.Notify.Template, s.Notify.Priority
				for _, to := range s.Notify.To {
					sv.To = append(sv.To, to.Source())
				}
				if s.Notify.Text != nil {
					sv.Body = s.Notify.Text.Source()
				}
			case s.Webhook != nil:
				sv.Channel, sv.Method, sv.URL = s.Webhook.Channel, s.Webhook.Method.Source(), s.Webhook.URL.Source()
				for k, h := range s.Webhook.Headers {
					if sv.Headers == nil {
						sv.Headers = map[string]string{}
					}
					sv.Headers[k] = h.Source()
				}
				body, err := s.Webhook.Body.RenderText(map[string]any{"event": map[string]any{"data": map[string]any{"order_id": "7", "state": "open"}}})
				if err != nil {
					t.Errorf("rule %s step %s: body: %v", r.Name, s.Name, err)
				}
				sv.Body = body
			case s.Emit != nil:
				sv.EmitType = s.Emit.Type
				data, err := s.Emit.Data.RenderJSON(map[string]any{"event": map[string]any{"data": map[string]any{"order_id": "7"}}})
				if err != nil {
					t.Errorf("rule %s step %s: data: %v", r.Name, s.Name, err)
				}
				sv.Body = string(data)
			}
			rv.Steps = append(rv.Steps, sv)
		}
		gotRules = append(gotRules, rv)
	}
	wantRules := []ruleView{
		{
			Name: "confirm-order", On: []string{"order.paid"}, If: "event.data.total > 0", Key: "{{ .event.data.order_id }}", Priority: 1,
			Steps: []stepView{
				{Name: "email", Kind: "notify", If: "event.data.customer.email != nil", Channel: "mail", Template: "order-confirmation", To: []string{"{{ .event.data.customer.email }}"}, Priority: 1},
				{Name: "ship", Kind: "webhook", Channel: "warehouse", Method: "POST", URL: "http://127.0.0.1:9000/ship/{{ .event.data.order_id }}",
					Headers: map[string]string{"X-Order": "{{ .event.data.order_id }}"}, Body: `{"express":true,"items":[1,2],"order_id":"7"}`},
				{Name: "emit-3", Kind: "emit", EmitType: "order.fulfillment_requested", Body: `{"order_id":"7"}`},
			},
		},
		{
			Name: "monitor.alerts", On: []string{"monitor.*.down", "alert.**"},
			Steps: []stepView{
				{Name: "notify-1", Kind: "notify", Channel: "audit", To: []string{"ops@example.com", "{{ .event.data.owner }}"}, Priority: -1,
					Body: "{{ .event.type }}: costs ${HOME} nothing"},
				{Name: "webhook-2", Kind: "webhook", Channel: "http", Method: "PUT", URL: "https://status.example.com/incidents", Body: `{"state": "open"}`},
			},
		},
	}
	if diff := cmp.Diff(wantRules, gotRules); diff != "" {
		t.Errorf("Rules mismatch (-want +got):\n%s", diff)
	}

	if len(cfg.Sources) != 2 || filepath.Base(cfg.Sources[0].Path) != "10-base.yaml" {
		t.Errorf("Sources = %v", cfg.Sources)
	}
	if len(cfg.Version) != 64 {
		t.Errorf("Version = %q, want 64 hex digits", cfg.Version)
	}

	// The stored sources load to the same version, in any order.
	again, err := LoadSources([]Source{cfg.Sources[1], cfg.Sources[0]}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if again.Version != cfg.Version {
		t.Errorf("LoadSources version %s, Load version %s", again.Version, cfg.Version)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	base := []Source{{Path: "a/x.yaml", Data: []byte("rules: []\n")}}
	tests := []struct {
		name string
		srcs []Source
		same bool
	}{
		{"same content elsewhere", []Source{{Path: "b/x.yaml", Data: []byte("rules: []\n")}}, true},
		{"different name", []Source{{Path: "a/y.yaml", Data: []byte("rules: []\n")}}, false},
		{"different bytes", []Source{{Path: "a/x.yaml", Data: []byte("rules: [] \n")}}, false},
		{"split differently", []Source{{Path: "a/x.yaml", Data: []byte("rules: []\n")}, {Path: "a/z.yaml", Data: nil}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := version(tt.srcs) == version(base); got != tt.same {
				t.Errorf("same version = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := LoadSources([]Source{{Path: "empty.yaml"}}, Options{ChannelTypes: testTypes()})
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{Channels: map[string]*Channel{}}
	setDefaults(want)
	want.Server.PublicURL = "http://127.0.0.1:8080"
	if diff := cmp.Diff(want.Server, cfg.Server); diff != "" {
		t.Errorf("Server mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Delivery, cfg.Delivery); diff != "" {
		t.Errorf("Delivery mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Retention, cfg.Retention); diff != "" {
		t.Errorf("Retention mismatch (-want +got):\n%s", diff)
	}
	if cfg.Storage.Path != "data/herald.db" {
		t.Errorf("Storage.Path = %q", cfg.Storage.Path)
	}
	if ch := cfg.Channels["http"]; ch == nil || ch.Type != "webhook" {
		t.Errorf("built-in http channel = %+v", ch)
	}

	// Without a webhook type there is no built-in channel.
	cfg, err = LoadSources([]Source{{Path: "empty.yaml"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Channels) != 0 {
		t.Errorf("Channels = %v, want none", cfg.Channels)
	}
}

func TestLoadNotFound(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join("testdata", "nope"), testOptions())
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T is not Errors: %v", err, err)
	}
	const want = "testdata/nope: cannot read configuration: no such file or directory"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestStorageForms(t *testing.T) {
	tests := []struct {
		yaml   string
		want   Storage
		errSub string
	}{
		{yaml: "storage: {path: x.db}", want: Storage{Path: "x.db"}},
		{yaml: "storage: postgres://h/db", want: Storage{Path: "data/herald.db", URL: "postgres://h/db"}},
		{yaml: "storage: {url: 'postgres://h/db', schema: herald, max_conns: 4, migrate: false}",
			want: Storage{Path: "data/herald.db", URL: "postgres://h/db", Schema: "herald", MaxConns: 4, NoMigrate: true}},
		{yaml: "storage: {path: x.db, url: 'postgres://h/db'}", errSub: "not both"},
		{yaml: "storage: {path: x.db, schema: s}", errSub: "apply to PostgreSQL"},
		{yaml: "storage: {url: 'postgres://h/db', schema: Bad-Name}", errSub: "lower-case"},
		{yaml: "storage: mysql://h/db", errSub: `"mysql" is not postgres://`},
	}
	for _, tt := range tests {
		cfg, err := LoadSources([]Source{{Path: "s.yaml", Data: []byte(tt.yaml)}}, testOptions())
		if tt.errSub != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Errorf("%s: error %v, want one containing %q", tt.yaml, err, tt.errSub)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.yaml, err)
			continue
		}
		if cfg.Storage != tt.want {
			t.Errorf("%s: storage %+v, want %+v", tt.yaml, cfg.Storage, tt.want)
		}
	}
}
