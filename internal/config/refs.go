package config

import "fmt"

// Reference kinds.
const (
	refChannel        = "channel"
	refTemplate       = "template"
	refWebhookChannel = "webhook channel"
	// refDefaultWebhook is a webhook step that names no channel.
	refDefaultWebhook = "default webhook channel"
	// refProvider is a channel a failover channel sends through.
	refProvider = "provider channel"
)

// ref is a name used in one place and declared in another, possibly in
// another file; refs are checked once every file has been read.
type ref struct {
	kind  string
	name  string
	pos   Pos
	field string
	// webhook is the step to point at the default channel
	// (refDefaultWebhook).
	webhook *Webhook
	// from is the failover channel naming a provider (refProvider).
	from string
}

// defaultWebhookChannel is the channel webhook steps use when they name
// none.
const defaultWebhookChannel = "http"

// finish completes the configuration once every file has been read: the
// built-in channel, references, and checks that span sections.
func (l *loader) finish() {
	if _, ok := l.cfg.Channels[defaultWebhookChannel]; !ok {
		if ct, ok := l.opts.ChannelTypes["webhook"]; ok {
			// A webhook channel without a URL: each webhook step gives
			// its own.
			ch := &Channel{Name: defaultWebhookChannel, Type: "webhook"}
			if ct.New != nil {
				ch.Settings = ct.New()
			}
			l.cfg.Channels[defaultWebhookChannel] = ch
		}
	}
	for _, r := range l.refs {
		l.checkRef(r)
	}
	l.checkServer()
	l.checkSources()
}

func (l *loader) checkRef(r ref) {
	switch r.kind {
	case refDefaultWebhook:
		ch, ok := l.cfg.Channels[defaultWebhookChannel]
		if !ok {
			return // no webhook type: the engine decides
		}
		r.webhook.Channel = defaultWebhookChannel
		if ch.Type != "webhook" && ch.Type != "" {
			l.add(r.pos, r.field, fmt.Sprintf("without a channel, a webhook step uses the channel %q, which has type %q: name a webhook channel with channel:", defaultWebhookChannel, ch.Type))
		}
	case refChannel, refWebhookChannel:
		ch, ok := l.cfg.Channels[r.name]
		if !ok {
			l.add(r.pos, r.field, fmt.Sprintf("unknown channel %q (%s)", r.name, suggest("channels", keys(l.cfg.Channels))))
			return
		}
		if r.kind == refWebhookChannel && ch.Type != "webhook" && ch.Type != "" {
			var hooks []string
			for name, c := range l.cfg.Channels {
				if c.Type == "webhook" {
					hooks = append(hooks, name)
				}
			}
			l.add(r.pos, r.field, fmt.Sprintf("channel %q has type %q; a webhook step needs a channel of type webhook (%s)", r.name, ch.Type, suggest("webhook channels", hooks)))
		}
	case refProvider:
		ch, ok := l.cfg.Channels[r.name]
		switch {
		case !ok:
			l.add(r.pos, r.field, fmt.Sprintf("unknown channel %q (%s)", r.name, suggest("channels", keys(l.cfg.Channels))))
		case r.name == r.from:
			l.add(r.pos, r.field, fmt.Sprintf("channel %q cannot be its own provider", r.name))
		default:
			if _, nested := ch.Settings.(interface{ ChannelRefs() []string }); nested {
				l.add(r.pos, r.field, fmt.Sprintf("channel %q is itself a failover channel; list its providers instead", r.name))
			}
		}
	case refTemplate:
		if _, ok := l.cfg.Templates[r.name]; !ok {
			l.add(r.pos, r.field, fmt.Sprintf("unknown template %q (%s)", r.name, suggest("templates", keys(l.cfg.Templates))))
		}
	}
}
