package opsgenie_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/channel/opsgenie"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		s       opsgenie.Settings
		wantErr string
	}{
		{"ok", opsgenie.Settings{APIKey: apiKey}, ""},
		{"full", opsgenie.Settings{APIKey: apiKey, Region: "EU", Priority: "p2", Responders: []opsgenie.Responder{{Type: "team", Name: "NOC"}, {Type: "user", Username: "a@b.c"}}}, ""},
		{"no key", opsgenie.Settings{}, "api_key is required"},
		{"key with space", opsgenie.Settings{APIKey: "abc def-123456"}, "spaces"},
		{"region", opsgenie.Settings{APIKey: apiKey, Region: "apac"}, "region"},
		{"priority", opsgenie.Settings{APIKey: apiKey, Priority: "P9"}, "priority"},
		{"responder type", opsgenie.Settings{APIKey: apiKey, Responders: []opsgenie.Responder{{Type: "bot", Name: "x"}}}, "responders[0]"},
		{"responder name", opsgenie.Settings{APIKey: apiKey, VisibleTo: []opsgenie.Responder{{Type: "team"}}}, "visible_to[0]"},
		{"pattern", opsgenie.Settings{APIKey: apiKey, CloseTypes: []string{"["}}, "close_types"},
		{"api url", opsgenie.Settings{APIKey: apiKey, APIURL: "api.opsgenie.com"}, "api_url"},
		{"tags", opsgenie.Settings{APIKey: apiKey, Tags: make([]string, 21)}, "tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error about %q", err, tt.wantErr)
			}
			if k := tt.s.APIKey.Value(); len(k) >= 6 && strings.Contains(err.Error(), k) {
				t.Errorf("error %q shows the API key", err)
			}
		})
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		want    opsgenie.Settings
		wantErr string
	}{
		{url: "opsgenie://" + apiKey, want: opsgenie.Settings{APIKey: apiKey}},
		{
			url: "opsgenie://" + apiKey + "/%23NOC/@trinity/*oncall/^4513b7ea-3b91-438f-b7e4-e3e54af9147c/neo?region=eu&priority=1&tags=a,b&entity=db&+env=prod",
			want: opsgenie.Settings{
				APIKey: apiKey, Region: "eu", Priority: "P1", Tags: []string{"a", "b"}, Entity: "db",
				Details: map[string]string{"env": "prod"},
				Responders: []opsgenie.Responder{
					{Type: "team", Name: "NOC"}, {Type: "user", Username: "trinity"}, {Type: "schedule", Name: "oncall"},
					{Type: "escalation", ID: "4513b7ea-3b91-438f-b7e4-e3e54af9147c"}, {Type: "user", Username: "neo"},
				},
			},
		},
		{
			url:  "OpsGenie://" + apiKey + "/#ops?to=%40morpheus&source=ci&user=bot&note=hi",
			want: opsgenie.Settings{APIKey: apiKey, Source: "ci", User: "bot", Note: "hi", Responders: []opsgenie.Responder{{Type: "team", Name: "ops"}, {Type: "user", Username: "morpheus"}}},
		},
		{url: "http://" + apiKey, wantErr: "scheme"},
		{url: apiKey, wantErr: "opsgenie://API_KEY"},
		{url: "opsgenie://", wantErr: "api_key is required"},
		{url: "opsgenie://%zz" + apiKey, wantErr: "%-escape"},
		{url: "opsgenie://" + apiKey + "/#", wantErr: "targets"},
		{url: "opsgenie://" + apiKey + "/%zz", wantErr: "targets"},
		{url: "opsgenie://" + apiKey + "?region=apac", wantErr: "region"},
		{url: "opsgenie://" + apiKey + "?priority=urgent", wantErr: "priority"},
		{url: "opsgenie://" + apiKey + "?colour=red", wantErr: `unknown URL parameter "colour"`},
		{url: "opsgenie://" + apiKey + "?" + apiKey + "=1", wantErr: "unknown URL parameter"},
		{url: "opsgenie://" + apiKey + "?priority=" + apiKey, wantErr: "priority"},
		{url: "opsgenie://" + apiKey + "?a=%", wantErr: "query"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			var got opsgenie.Settings
			err := opsgenie.FromURL(tt.url, &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromURL = %v, want an error about %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), apiKey) {
					t.Errorf("error %q shows the API key", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FromURL =\n%+v\nwant\n%+v", got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("settings from a valid URL do not validate: %v", err)
			}
		})
	}
	if err := opsgenie.FromURL("opsgenie://"+apiKey, &struct{}{}); err == nil {
		t.Error("FromURL accepted settings of the wrong type")
	}
}

func FuzzFromURL(f *testing.F) {
	f.Add("opsgenie://" + apiKey)
	f.Add("opsgenie://" + apiKey + "/#team/@user?region=eu&priority=P2&+k=v")
	f.Add("opsgenie://" + apiKey + "?" + apiKey + "=1")
	f.Add("opsgenie://" + apiKey + "?region=" + apiKey)
	f.Add("opsgenie://%" + apiKey)
	f.Fuzz(func(t *testing.T, u string) {
		var s opsgenie.Settings
		err := opsgenie.FromURL(u, &s)
		if err == nil {
			if s.APIKey == "" {
				t.Fatalf("FromURL(%q) succeeded without an API key", u)
			}
			return
		}
		_, rest, _ := strings.Cut(u, "://")
		rest, _, _ = strings.Cut(rest, "?")
		key, _, _ := strings.Cut(rest, "/")
		if len(key) >= 6 && strings.Contains(err.Error(), key) {
			t.Fatalf("FromURL(%q) error %q shows the API key", u, err)
		}
	})
}
