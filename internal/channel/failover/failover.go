// Package failover is a channel made of other channels: "sms: [twilio,
// aliyun]". Each attempt tries the providers in order and stops at the
// first that accepts the message; a provider that keeps failing has its
// circuit opened and is skipped until a probe succeeds, so a broken
// primary does not add its timeout to every message.
//
// The receipt's ProviderID is "<provider channel>:<provider's id>", so
// the ledger shows which provider delivered.
package failover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/breaker"
)

// Settings configure a failover channel.
type Settings struct {
	// Providers are the names of other configured channels, tried in
	// order.
	Providers []string `yaml:"providers"`
	// Circuit tunes each provider's breaker (zero: defaults).
	Failures int           `yaml:"failures"`
	Cooldown time.Duration `yaml:"cooldown"`
}

// ChannelRefs lists the channels this one sends through; the
// configuration loader checks that they exist.
func (s *Settings) ChannelRefs() []string { return s.Providers }

// SetChannelRefs sets the providers from the short form of the
// configuration, a list: "sms: [twilio, aliyun]".
func (s *Settings) SetChannelRefs(names []string) { s.Providers = names }

// Validate reports a failover channel without two providers.
func (s *Settings) Validate() error {
	if len(s.Providers) < 2 {
		return errors.New("providers: a failover channel needs at least two provider channels")
	}
	seen := map[string]bool{}
	for _, p := range s.Providers {
		if seen[p] {
			return fmt.Errorf("providers: %q is listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

type provider struct {
	name    string
	sender  channel.Sender
	breaker *breaker.Breaker
}

// Sender tries its providers in order. It is safe for concurrent use.
type Sender struct {
	providers []provider
	now       func() time.Time
}

var (
	_ channel.Sender    = (*Sender)(nil)
	_ channel.Describer = (*Sender)(nil)
)

// New returns a Sender over the named senders.
func New(s *Settings, senders map[string]channel.Sender) (*Sender, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	f := &Sender{now: time.Now}
	for _, name := range s.Providers {
		snd, ok := senders[name]
		if !ok || snd == nil {
			return nil, fmt.Errorf("providers: channel %q has no sender", name)
		}
		f.providers = append(f.providers, provider{name: name, sender: snd,
			breaker: breaker.New(breaker.Settings{Failures: s.Failures, Cooldown: s.Cooldown})})
	}
	return f, nil
}

// Capabilities implements channel.Describer: what every provider can
// take (the shortest length limit).
func (f *Sender) Capabilities() channel.Capabilities {
	var c channel.Capabilities
	first := true
	for _, p := range f.providers {
		d, ok := p.sender.(channel.Describer)
		if !ok {
			continue
		}
		pc := d.Capabilities()
		if pc.MaxLength > 0 && (c.MaxLength == 0 || pc.MaxLength < c.MaxLength) {
			c.MaxLength = pc.MaxLength
		}
		if first {
			c.Split, c.Subject, c.HTML = pc.Split, pc.Subject, pc.HTML
			first = false
		} else {
			c.Split, c.Subject, c.HTML = c.Split && pc.Split, c.Subject && pc.Subject, c.HTML && pc.HTML
		}
	}
	return c
}

// Status returns each provider's circuit, for the API.
func (f *Sender) Status() map[string]breaker.Status {
	out := make(map[string]breaker.Status, len(f.providers))
	for _, p := range f.providers {
		out[p.name] = p.breaker.Status()
	}
	return out
}

// Send implements channel.Sender: the first provider that accepts the
// message wins. If all fail, the error is permanent only when every
// provider said so; otherwise it is retryable (or retry-after, with the
// shortest delay any provider asked for).
func (f *Sender) Send(ctx context.Context, m *channel.Message) (*channel.Receipt, error) {
	var errs []string
	allPermanent := true
	var after time.Duration
	tried := 0
	var soonest time.Time
	for i, p := range f.providers {
		if ctx.Err() != nil {
			break
		}
		ok, until := p.breaker.Allow(f.now())
		if !ok {
			errs = append(errs, p.name+": circuit open")
			allPermanent = false
			if soonest.IsZero() || until.Before(soonest) {
				soonest = until
			}
			continue
		}
		tried++
		// Each provider gets a share of what is left of the attempt, so
		// one that hangs cannot use up the time of those after it.
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok {
			left := len(f.providers) - i
			pctx, cancel = context.WithTimeout(ctx, time.Until(dl)/time.Duration(left))
		}
		rc, err := p.sender.Send(pctx, m)
		cancel()
		if err == nil {
			p.breaker.Success(f.now())
			if rc == nil {
				rc = &channel.Receipt{}
			}
			out := *rc
			out.ProviderID = p.name + ":" + rc.ProviderID
			return &out, nil
		}
		var ce *channel.Error
		if !errors.As(err, &ce) {
			ce = channel.Retryable("error", 0, err)
		}
		switch ce.Class {
		case channel.ClassPermanent:
			p.breaker.Neutral()
		case channel.ClassRetryAfter:
			p.breaker.Failure(f.now())
			allPermanent = false
			if ce.After > 0 && (after == 0 || ce.After < after) {
				after = ce.After
			}
		default:
			p.breaker.Failure(f.now())
			allPermanent = false
		}
		errs = append(errs, p.name+": "+err.Error())
	}
	text := "every provider failed: " + strings.Join(errs, "; ")
	switch {
	case ctx.Err() != nil:
		return nil, channel.ClassifyNetError(ctx.Err())
	case tried > 0 && allPermanent:
		return nil, channel.Permanent("all_providers", 0, errors.New(text))
	case tried == 0 && !soonest.IsZero():
		return nil, channel.RetryAfter(channel.ReasonCircuitOpen, 0, max(soonest.Sub(f.now()), time.Second), errors.New(text))
	case after > 0:
		return nil, channel.RetryAfter("all_providers", 0, after, errors.New(text))
	}
	return nil, channel.Retryable("all_providers", 0, errors.New(text))
}
