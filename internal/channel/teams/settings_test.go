package teams_test

import (
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/channel/teams"
)

func TestFromURL(t *testing.T) {
	t.Parallel()
	paURL := "https://prod-161.westeurope.logic.azure.com:443/powerautomate/automations/direct/workflows/" + workflowID +
		"/triggers/manual/paths/invoke?api-version=2022-03-01-preview&sig=" + signature + "&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"
	tests := []struct {
		url     string
		want    string // the webhook URL
		wantErr string
	}{
		{url: webhookURL, want: webhookURL},
		{url: "teams+https://" + strings.TrimPrefix(webhookURL, "https://"), want: webhookURL},
		{url: "https://example.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d", want: "https://example.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d"},
		{url: "workflows://prod-161.westeurope.logic.azure.com:443/" + workflowID + "/" + signature + "/",
			want: "https://prod-161.westeurope.logic.azure.com:443/workflows/" + workflowID +
				"/triggers/manual/paths/invoke?api-version=2016-06-01&sig=" + signature + "&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"},
		{url: "workflow://prod-161.westeurope.logic.azure.com:443/" + workflowID + "/" + signature + "?pa=yes", want: paURL},
		{url: "workflows://prod-161.westeurope.logic.azure.com:443/?id=" + workflowID + "&sig=" + signature + "&pa=yes", want: paURL},

		{url: "prod-161.westeurope.logic.azure.com/x", wantErr: "must look like"},
		{url: "msteams://a/b/c", wantErr: `scheme "msteams"`},
		{url: "http://insecure.example.com/hook", wantErr: `scheme "http"`},
		{url: "https://user:pw@example.com/hook", wantErr: "user name or password"},
		{url: "https://", wantErr: "no host"},
		{url: "workflows:///" + workflowID + "/" + signature, wantErr: "no host"},
		{url: "workflows://host:99999/" + workflowID + "/" + signature, wantErr: `port "99999"`},
		{url: "workflows://host/", wantErr: "no workflow id"},
		{url: "workflows://host/" + workflowID, wantErr: "no signature"},
		{url: "workflows://host/" + workflowID + "/sig.nature", wantErr: "signature in the URL has characters"},
		{url: "workflows://host/wf$id/" + signature, wantErr: "workflow id in the URL has characters"},
		{url: "workflows://host/a/b/c", wantErr: "more than two path segments"},
		{url: "workflows://host/a/b?pa=maybe", wantErr: "pa"},
		{url: "workflows://host/a/b?image=no", wantErr: "unknown URL parameter (known: id, sig, pa, ver, full_width)"},
		{url: "workflows://host/a/b?x=%zz", wantErr: "malformed URL query"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			var s teams.Settings
			err := teams.FromURL(tt.url, &s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromURL error = %v, want one containing %q", err, tt.wantErr)
				}
				for _, secret := range []string{signature, workflowID, "sig.nature", "wf$id"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error shows a secret part: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.WebhookURL.Value() != tt.want {
				t.Errorf("webhook_url = %s, want %s", s.WebhookURL.Value(), tt.want)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("settings from a valid URL do not validate: %v", err)
			}
		})
	}
	if err := teams.FromURL(webhookURL, &struct{}{}); err == nil {
		t.Error("FromURL into the wrong settings type succeeded")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s       teams.Settings
		wantErr string
	}{
		{teams.Settings{WebhookURL: webhookURL}, ""},
		{teams.Settings{WebhookURL: webhookURL, APIURL: "http://127.0.0.1:8080"}, ""},
		{teams.Settings{}, "webhook_url is required"},
		{teams.Settings{WebhookURL: "ftp://example.com/" + signature}, "webhook_url"},
		{teams.Settings{WebhookURL: webhookURL, APIURL: "localhost"}, "api_url"},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Validate = %v, want an error about %q", err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), signature) {
			t.Errorf("Validate error shows the signature: %v", err)
		}
	}
}

// FuzzFromURL checks that FromURL never panics and never repeats the
// workflow id or signature of a workflows:// URL in an error.
func FuzzFromURL(f *testing.F) {
	f.Add("host:443", workflowID, signature, "?pa=yes")
	f.Add("h", "a b", "%zz", "?x=1")
	f.Add("", "", "", "")
	f.Add("host:x", "wf", "sig.nature", "")
	f.Fuzz(func(t *testing.T, host, workflow, sig, query string) {
		u := "workflows://" + host + "/" + workflow + "/" + sig + query
		var s teams.Settings
		err := teams.FromURL(u, &s)
		if err == nil {
			return
		}
		for _, secret := range []string{workflow, sig} {
			if len(secret) >= 6 && strings.Count(u, secret) == 1 && strings.Contains(err.Error(), secret) {
				t.Errorf("FromURL(%q) error shows a secret part: %v", u, err)
			}
		}
	})
}
