package app

import (
	"fmt"
	"log/slog"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/email"
	"github.com/herald-notify/herald/internal/channel/logchan"
	"github.com/herald-notify/herald/internal/channel/webhook"
	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/netguard"
)

// channelTypes is the table of every provider Herald knows: the loader
// decodes each channel's settings into its type's struct.
func channelTypes() map[string]config.ChannelType {
	return map[string]config.ChannelType{
		"webhook": {New: func() any { return &webhook.Settings{} }, FromURL: webhook.FromURL},
		"email":   {New: func() any { return &email.Settings{} }, FromURL: email.FromURL},
		"log":     {New: func() any { return &logchan.Settings{} }},
	}
}

// buildSenders creates a sender for every configured channel.
func buildSenders(cfg *config.Config, logger *slog.Logger) (map[string]channel.Sender, error) {
	guard := netguard.New(cfg.Network.AllowPrivate)
	// One HTTP client for all HTTP channels: connections are pooled per
	// host, and the engine bounds each attempt with its own deadline.
	client := guard.HTTPClient(0)
	senders := make(map[string]channel.Sender, len(cfg.Channels))
	for name, ch := range cfg.Channels {
		var s channel.Sender
		var err error
		switch st := ch.Settings.(type) {
		case *webhook.Settings:
			s, err = webhook.New(st, client)
		case *email.Settings:
			s, err = email.New(st, guard.DialContext)
		case *logchan.Settings:
			s = logchan.New(st, logger.With("channel", name))
		default:
			err = fmt.Errorf("no sender for channel type %q", ch.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", name, err)
		}
		senders[name] = s
	}
	return senders, nil
}
