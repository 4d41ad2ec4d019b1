package app

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/channel/failover"
	"github.com/herald-notify/herald/internal/config"
)

// TestFailoverShortForm: "sms: [twilio, aliyun]" is a failover channel
// over those two, built after them.
func TestFailoverShortForm(t *testing.T) {
	cfg, err := config.LoadSources([]config.Source{{Path: "f.yaml", Data: []byte(strings.TrimSpace(`
channels:
  a: {type: log}
  b: {type: log}
  sms: [a, b]
rules:
  - name: r
    on: x
    steps:
      - notify: {channel: sms, text: hi}
`))}}, config.Options{ChannelTypes: channelTypes()})
	if err != nil {
		t.Fatal(err)
	}
	ch := cfg.Channels["sms"]
	if ch.Type != "failover" {
		t.Fatalf("sms has type %q, want failover", ch.Type)
	}
	if st, ok := ch.Settings.(*failover.Settings); !ok || strings.Join(st.Providers, ",") != "a,b" {
		t.Fatalf("sms settings = %#v", ch.Settings)
	}
	senders, err := buildSenders(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := senders["sms"].(*failover.Sender); !ok {
		t.Errorf("sms sender is %T", senders["sms"])
	}
}
