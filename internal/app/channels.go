package app

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/aliyunsms"
	"github.com/herald-notify/herald/internal/channel/bark"
	"github.com/herald-notify/herald/internal/channel/dingtalk"
	"github.com/herald-notify/herald/internal/channel/discord"
	"github.com/herald-notify/herald/internal/channel/email"
	"github.com/herald-notify/herald/internal/channel/failover"
	"github.com/herald-notify/herald/internal/channel/feishu"
	"github.com/herald-notify/herald/internal/channel/googlechat"
	"github.com/herald-notify/herald/internal/channel/gotify"
	"github.com/herald-notify/herald/internal/channel/logchan"
	"github.com/herald-notify/herald/internal/channel/matrix"
	"github.com/herald-notify/herald/internal/channel/mattermost"
	"github.com/herald-notify/herald/internal/channel/mqtt"
	"github.com/herald-notify/herald/internal/channel/nats"
	"github.com/herald-notify/herald/internal/channel/ntfy"
	"github.com/herald-notify/herald/internal/channel/opsgenie"
	"github.com/herald-notify/herald/internal/channel/pagerduty"
	"github.com/herald-notify/herald/internal/channel/pushover"
	"github.com/herald-notify/herald/internal/channel/rocketchat"
	"github.com/herald-notify/herald/internal/channel/slack"
	"github.com/herald-notify/herald/internal/channel/smsgateway"
	"github.com/herald-notify/herald/internal/channel/teams"
	"github.com/herald-notify/herald/internal/channel/telegram"
	"github.com/herald-notify/herald/internal/channel/tencentsms"
	"github.com/herald-notify/herald/internal/channel/twilio"
	"github.com/herald-notify/herald/internal/channel/vonage"
	"github.com/herald-notify/herald/internal/channel/webhook"
	"github.com/herald-notify/herald/internal/channel/webpush"
	"github.com/herald-notify/herald/internal/channel/wecom"
	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/netguard"
)

// deps is what a provider's sender may need from the composition root.
type deps struct {
	// client is one HTTP client for all HTTP channels, through the
	// network guard: connections are pooled per host, and the engine
	// bounds each attempt with its own deadline.
	client *http.Client
	guard  *netguard.Guard
	logger *slog.Logger
	// senders are the channels built so far: a failover channel's
	// providers are built before it.
	senders map[string]channel.Sender
}

// provider is one channel type: its settings, its URL form, how to
// build its sender, and its default per-destination pacing.
type provider struct {
	settings func() any
	fromURL  func(u string, settings any) error
	build    func(settings any, d deps) (channel.Sender, error)
	pace     time.Duration
}

// paced returns p with a default pace: the least time between two
// messages to one destination that the provider documents.
func paced(p provider, d time.Duration) provider {
	p.pace = d
	return p
}

// httpProvider is a provider whose sender needs only the HTTP client, as
// almost all do.
func httpProvider[S any, T channel.Sender](fromURL func(string, any) error, newSender func(*S, *http.Client) (T, error)) provider {
	return provider{
		settings: func() any { return new(S) },
		fromURL:  fromURL,
		build: func(settings any, d deps) (channel.Sender, error) {
			return newSender(settings.(*S), d.client)
		},
	}
}

// providers is the table of every channel type Herald knows.
func providers() map[string]provider {
	return map[string]provider{
		"webhook": httpProvider(webhook.FromURL, webhook.New),
		"email": {
			settings: func() any { return &email.Settings{} },
			fromURL:  email.FromURL,
			build: func(s any, d deps) (channel.Sender, error) {
				return email.New(s.(*email.Settings), d.guard.DialContext)
			},
		},
		"log": {
			settings: func() any { return &logchan.Settings{} },
			build: func(s any, d deps) (channel.Sender, error) {
				return logchan.New(s.(*logchan.Settings), d.logger), nil
			},
		},
		// Chat.
		"slack":      paced(httpProvider(slack.FromURL, slack.New), time.Second),
		"discord":    paced(httpProvider(discord.FromURL, discord.New), 500*time.Millisecond),
		"teams":      paced(httpProvider(teams.FromURL, teams.New), 250*time.Millisecond),
		"telegram":   paced(httpProvider(telegram.FromURL, telegram.New), time.Second),
		"mattermost": httpProvider(mattermost.FromURL, mattermost.New),
		"rocketchat": httpProvider(rocketchat.FromURL, rocketchat.New),
		"matrix":     httpProvider(matrix.FromURL, matrix.New),
		"googlechat": httpProvider(googlechat.FromURL, googlechat.New),
		"dingtalk":   paced(httpProvider(dingtalk.FromURL, dingtalk.New), 3*time.Second),
		"wecom":      paced(httpProvider(wecom.FromURL, wecom.New), 3*time.Second),
		"feishu":     paced(httpProvider(feishu.FromURL, feishu.New), 200*time.Millisecond),
		// SMS.
		"twilio":     httpProvider(twilio.FromURL, twilio.New),
		"aliyunsms":  paced(httpProvider(aliyunsms.FromURL, aliyunsms.New), time.Minute),
		"tencentsms": paced(httpProvider(tencentsms.FromURL, tencentsms.New), 30*time.Second),
		"vonage":     httpProvider(vonage.FromURL, vonage.New),
		"smsgateway": httpProvider(smsgateway.FromURL, smsgateway.New),
		// Push.
		"ntfy":     httpProvider(ntfy.FromURL, ntfy.New),
		"gotify":   httpProvider(gotify.FromURL, gotify.New),
		"pushover": httpProvider(pushover.FromURL, pushover.New),
		"bark":     httpProvider(bark.FromURL, bark.New),
		"webpush":  httpProvider(webpush.FromURL, webpush.New),
		// Paging.
		"pagerduty": httpProvider(pagerduty.FromURL, pagerduty.New),
		"opsgenie":  httpProvider(opsgenie.FromURL, opsgenie.New),
		// Brokers: the destination comes from the operator's config.
		"mqtt": {
			settings: func() any { return &mqtt.Settings{} },
			fromURL:  mqtt.FromURL,
			build:    func(s any, _ deps) (channel.Sender, error) { return mqtt.New(s.(*mqtt.Settings)) },
		},
		// A channel made of other channels, tried in order.
		"failover": {
			settings: func() any { return &failover.Settings{} },
			build: func(s any, d deps) (channel.Sender, error) {
				return failover.New(s.(*failover.Settings), d.senders)
			},
		},
		"nats": {
			settings: func() any { return &nats.Settings{} },
			fromURL:  nats.FromURL,
			build:    func(s any, _ deps) (channel.Sender, error) { return nats.New(s.(*nats.Settings)) },
		},
	}
}

// channelTypes is the providers' table as the configuration loader needs
// it: it decodes each channel's settings into its type's struct.
func channelTypes() map[string]config.ChannelType {
	ps := providers()
	out := make(map[string]config.ChannelType, len(ps))
	for name, p := range ps {
		out[name] = config.ChannelType{New: p.settings, FromURL: p.fromURL, Pace: p.pace}
	}
	return out
}

// buildSenders creates a sender for every configured channel.
func buildSenders(cfg *config.Config, logger *slog.Logger) (map[string]channel.Sender, error) {
	guard := netguard.New(cfg.Network.AllowPrivate)
	senders := make(map[string]channel.Sender, len(cfg.Channels))
	d := deps{client: guard.HTTPClient(0), guard: guard, logger: logger, senders: senders}
	ps := providers()
	// Failover channels last: their providers must exist first.
	names := make([]string, 0, len(cfg.Channels))
	for name := range cfg.Channels {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		fi, fj := cfg.Channels[names[i]].Type == "failover", cfg.Channels[names[j]].Type == "failover"
		if fi != fj {
			return fj
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		ch := cfg.Channels[name]
		p, ok := ps[ch.Type]
		if !ok {
			closeSenders(senders)
			return nil, fmt.Errorf("channel %s: no sender for channel type %q", name, ch.Type)
		}
		dd := d
		dd.logger = logger.With("channel", name)
		s, err := p.build(ch.Settings, dd)
		if err != nil {
			closeSenders(senders)
			return nil, fmt.Errorf("channel %s: %w", name, err)
		}
		senders[name] = s
	}
	return senders, nil
}

// closeSenders closes senders that hold connections (brokers).
func closeSenders(senders map[string]channel.Sender) {
	for _, s := range senders {
		if c, ok := s.(io.Closer); ok {
			c.Close()
		}
	}
}
