package webpush_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/webpush"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := webpush.Settings{VAPIDPublicKey: vapidPublic, VAPIDPrivateKey: vapidPrivate, Subject: subject}
	with := func(f func(*webpush.Settings)) webpush.Settings {
		s := ok
		f(&s)
		return s
	}
	tests := []struct {
		name    string
		s       webpush.Settings
		wantErr string
	}{
		{"ok", ok, ""},
		{"https subject, subscription", with(func(s *webpush.Settings) {
			s.Subject, s.Subscription, s.TTL, s.Urgency = "https://example.com/contact", subscriptionJSON("https://fcm.googleapis.com/fcm/send/abc"), time.Minute, "very-low"
		}), ""},
		{"padded keys", with(func(s *webpush.Settings) { s.VAPIDPrivateKey += "=" }), ""},
		{"no keys", with(func(s *webpush.Settings) { s.VAPIDPublicKey = "" }), "required"},
		{"short private", with(func(s *webpush.Settings) { s.VAPIDPrivateKey = "AAAA" }), "32 bytes"},
		{"mismatched", with(func(s *webpush.Settings) { s.VAPIDPublicKey = rfcUAPublic }), "does not belong"},
		{"bad public", with(func(s *webpush.Settings) { s.VAPIDPublicKey = "AAAA" }), "uncompressed"},
		{"no subject", with(func(s *webpush.Settings) { s.Subject = "" }), "subject is required"},
		{"bad subject", with(func(s *webpush.Settings) { s.Subject = "ops@example.com" }), "mailto:"},
		{"ttl", with(func(s *webpush.Settings) { s.TTL = -time.Second }), "ttl"},
		{"ttl fraction", with(func(s *webpush.Settings) { s.TTL = 1500 * time.Millisecond }), "whole seconds"},
		{"urgency", with(func(s *webpush.Settings) { s.Urgency = "urgent" }), "urgency"},
		{"subscription", with(func(s *webpush.Settings) { s.Subscription = "{" }), "subscription"},
		{"http subscription", with(func(s *webpush.Settings) { s.Subscription = subscriptionJSON("http://push.example.net/x") }), "https"},
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
			for _, secret := range []string{vapidPrivate, rfcAuth} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}

func TestGenerateVAPIDKeys(t *testing.T) {
	t.Parallel()
	pub, priv, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(unb64(t, pub)) != 65 || len(unb64(t, priv)) != 32 {
		t.Errorf("keys are %d and %d bytes, want 65 and 32", len(unb64(t, pub)), len(unb64(t, priv)))
	}
	s := webpush.Settings{VAPIDPublicKey: pub, VAPIDPrivateKey: channel.Secret(priv), Subject: subject}
	if err := s.Validate(); err != nil {
		t.Errorf("generated keys do not validate: %v", err)
	}
	pub2, _, _ := webpush.GenerateVAPIDKeys()
	if pub2 == pub {
		t.Error("two generated key pairs are equal")
	}
}

func TestFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		want    webpush.Settings
		wantErr string
	}{
		{url: "webpush://?subject=mailto:ops@example.com", want: webpush.Settings{Subject: "mailto:ops@example.com"}},
		{url: "webpush:///?subject=" + url.QueryEscape("https://example.com/c") + "&ttl=3600&urgency=high&no_topic=true",
			want: webpush.Settings{Subject: "https://example.com/c", TTL: time.Hour, Urgency: "high", NoTopic: true}},
		{url: "WebPush://?ttl=90m", want: webpush.Settings{TTL: 90 * time.Minute}},
		{url: "https://example.com", wantErr: "webpush://"},
		{url: "webpush://push.example.net/x", wantErr: "no host or path"},
		{url: "webpush://?subject=ops", wantErr: "subject"},
		{url: "webpush://?ttl=-5", wantErr: "ttl"},
		{url: "webpush://?ttl=1.5s", wantErr: "ttl"},
		{url: "webpush://?urgency=now", wantErr: "urgency"},
		{url: "webpush://?no_topic=maybe", wantErr: "no_topic"},
		{url: "webpush://?vapid_private_key=" + vapidPrivate, wantErr: "does not belong in the URL"},
		{url: "webpush://?colour=red", wantErr: `unknown URL parameter "colour"`},
		{url: "webpush://?a=%zz", wantErr: "query"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			var got webpush.Settings
			err := webpush.FromURL(tt.url, &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromURL = %v, want an error about %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), vapidPrivate) {
					t.Errorf("error %q shows the private key", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("FromURL = %+v, want %+v", got, tt.want)
			}
		})
	}
	if err := webpush.FromURL("webpush://", &struct{}{}); err == nil {
		t.Error("FromURL accepted settings of the wrong type")
	}
}

func FuzzFromURL(f *testing.F) {
	f.Add("webpush://?subject=mailto:a@b.c&ttl=60")
	f.Add("webpush://?vapid_private_key=" + vapidPrivate)
	f.Add("webpush://?" + vapidPrivate + "=1")
	f.Add("webpush://?ttl=" + vapidPrivate)
	f.Fuzz(func(t *testing.T, u string) {
		var s webpush.Settings
		err := webpush.FromURL(u, &s)
		if err == nil {
			return
		}
		// Nothing of the query is secret by design, but a private key
		// pasted into it must never come back.
		_, rawQuery, _ := strings.Cut(u, "?")
		q, _ := url.ParseQuery(rawQuery)
		for k, vs := range q {
			for _, v := range append(vs, k) {
				if len(v) >= 20 && strings.Contains(err.Error(), v) {
					t.Fatalf("FromURL(%q) error %q repeats %q", u, err, v)
				}
			}
		}
	})
}
