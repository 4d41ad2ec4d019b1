package pagerduty_test

import (
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/pagerduty"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		s       pagerduty.Settings
		wantErr string
	}{
		{"ok", pagerduty.Settings{RoutingKey: routingKey}, ""},
		{"eu", pagerduty.Settings{RoutingKey: routingKey, Region: "eu", Severity: "info", Action: "resolve"}, ""},
		{"no key", pagerduty.Settings{}, "routing_key is required"},
		{"short key", pagerduty.Settings{RoutingKey: "abc123"}, "must be 32 characters"},
		{"bad char", pagerduty.Settings{RoutingKey: channel.Secret(strings.Repeat("a", 31) + "!")}, "only letters and digits"},
		{"region", pagerduty.Settings{RoutingKey: routingKey, Region: "asia"}, "region"},
		{"severity", pagerduty.Settings{RoutingKey: routingKey, Severity: "fatal"}, "severity"},
		{"action", pagerduty.Settings{RoutingKey: routingKey, Action: "close"}, "action"},
		{"pattern", pagerduty.Settings{RoutingKey: routingKey, ResolveTypes: []string{"[a-"}}, "resolve_types"},
		{"api url", pagerduty.Settings{RoutingKey: routingKey, APIURL: "ftp://x"}, "api_url"},
		{"client url", pagerduty.Settings{RoutingKey: routingKey, ClientURL: "not a url"}, "client_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error about %q", err, tt.wantErr)
			}
			if k := tt.s.RoutingKey.Value(); len(k) >= 6 && strings.Contains(err.Error(), k) {
				t.Errorf("error %q shows the routing key", err)
			}
		})
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		want    pagerduty.Settings
		wantErr string
	}{
		{url: "pagerduty://" + routingKey, want: pagerduty.Settings{RoutingKey: routingKey}},
		{
			url:  "pagerduty://" + routingKey + "/db01.example.com/mysql?region=eu&severity=critical&group=prod&class=disk",
			want: pagerduty.Settings{RoutingKey: routingKey, Source: "db01.example.com", Component: "mysql", Region: "eu", Severity: "critical", Group: "prod", Class: "disk"},
		},
		{
			// Apprise's form: the REST API key after @ is not needed.
			url:  "pagerduty://" + routingKey + "@u+abcdefRESTkey/web01",
			want: pagerduty.Settings{RoutingKey: routingKey, Source: "web01"},
		},
		{
			url:  "PagerDuty://" + routingKey + "?action=acknowledge&client=CI&client_url=https%3A%2F%2Fci.example.com",
			want: pagerduty.Settings{RoutingKey: routingKey, Action: "acknowledge", Client: "CI", ClientURL: "https://ci.example.com"},
		},
		{url: "slack://" + routingKey, wantErr: "scheme"},
		{url: routingKey, wantErr: "pagerduty://ROUTING_KEY"},
		{url: "pagerduty://", wantErr: "routing_key is required"},
		{url: "pagerduty://short", wantErr: "must be 32 characters"},
		{url: "pagerduty://" + routingKey + "/a/b/c", wantErr: "at most /SOURCE/COMPONENT"},
		{url: "pagerduty://" + routingKey + "?region=mars", wantErr: "region"},
		{url: "pagerduty://" + routingKey + "?severity=fatal", wantErr: "severity"},
		{url: "pagerduty://" + routingKey + "?action=close", wantErr: "action"},
		{url: "pagerduty://" + routingKey + "?colour=red", wantErr: `unknown URL parameter "colour"`},
		{url: "pagerduty://" + routingKey + "?x=%zz", wantErr: "query"},
		{url: "pagerduty://" + routingKey + "?" + routingKey + "=1", wantErr: "unknown URL parameter"},
		{url: "pagerduty://%zz" + routingKey, wantErr: "%-escape"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			var got pagerduty.Settings
			err := pagerduty.FromURL(tt.url, &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromURL = %v, want an error about %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), routingKey) {
					t.Errorf("error %q shows the routing key", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalSettings(got, tt.want) {
				t.Errorf("FromURL = %+v, want %+v", got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("settings from a valid URL do not validate: %v", err)
			}
		})
	}
	if err := pagerduty.FromURL("pagerduty://"+routingKey, &struct{}{}); err == nil {
		t.Error("FromURL accepted settings of the wrong type")
	}
}

func equalSettings(a, b pagerduty.Settings) bool {
	return a.RoutingKey == b.RoutingKey && a.Region == b.Region && a.APIURL == b.APIURL &&
		a.Action == b.Action && a.Severity == b.Severity && a.Source == b.Source &&
		a.Component == b.Component && a.Group == b.Group && a.Class == b.Class &&
		a.Client == b.Client && a.ClientURL == b.ClientURL
}

func FuzzFromURL(f *testing.F) {
	f.Add("pagerduty://" + routingKey)
	f.Add("pagerduty://" + routingKey + "@apikey/src/comp?region=eu")
	f.Add("pagerduty://" + routingKey + "?severity=" + routingKey)
	f.Add("pagerduty://" + routingKey + "?" + routingKey + "=x")
	f.Add("pagerduty://%41" + routingKey[1:] + "/%zz")
	f.Add("pagerduty://abc?x=%")
	f.Fuzz(func(t *testing.T, u string) {
		var s pagerduty.Settings
		err := pagerduty.FromURL(u, &s)
		if err == nil {
			if s.RoutingKey == "" {
				t.Fatalf("FromURL(%q) succeeded without a routing key", u)
			}
			return
		}
		// The secret part: the authority's user part (Apprise form) or
		// the whole authority.
		_, rest, _ := strings.Cut(u, "://")
		rest, _, _ = strings.Cut(rest, "?")
		auth, _, _ := strings.Cut(rest, "/")
		if user, _, ok := strings.Cut(auth, "@"); ok {
			auth = user
		}
		if len(auth) >= 6 && strings.Contains(err.Error(), auth) {
			t.Fatalf("FromURL(%q) error %q shows the routing key", u, err)
		}
	})
}
