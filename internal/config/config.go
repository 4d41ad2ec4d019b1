// Package config loads Herald's configuration: one YAML file or a folder of
// them declaring the server, storage, delivery policy, channels, templates
// and rules. Loading expands ${env:NAME} and ${file:PATH} references,
// decodes strictly (unknown keys are errors), validates everything,
// compiles conditions and templates, and reports every mistake at once,
// each with its file, line and field.
package config

import (
	"github.com/herald-notify/herald/internal/channel/breaker"
	"net/netip"
	"time"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/render"
	"github.com/herald-notify/herald/internal/rule"
)

// Config is a loaded, validated and compiled configuration.
type Config struct {
	// Version is the hex SHA-256 of the source files (paths and raw bytes,
	// before secret expansion); runs record it.
	Version string
	// Sources are the raw files the configuration was loaded from, kept so
	// that the exact version a run started with can be stored and loaded
	// again after a restart.
	Sources []Source

	Server    Server
	Storage   Storage
	Delivery  Delivery
	Retention Retention
	Network   Network
	// Channels by name.
	Channels map[string]*Channel
	// Templates by name.
	Templates map[string]*Template
	// Rules in file order (files sorted by name).
	Rules []*Rule
	// Schedules, Heartbeats and Monitors are the event sources, by name.
	Schedules  map[string]*Schedule
	Heartbeats map[string]*Heartbeat
	Monitors   map[string]*Monitor
}

// Source is one configuration file as read from disk.
type Source struct {
	Path string
	Data []byte
}

// Server configures the HTTP API.
type Server struct {
	// Listen is the address to listen on (default 127.0.0.1:8080).
	Listen string
	// Token is the bearer token every /v1 call must carry; required when
	// Listen is not a loopback address.
	Token channel.Secret
	// PublicURL is the externally reachable base URL (for links).
	PublicURL string
	// MaxBody is the largest request body accepted (default 1 MiB).
	MaxBody int64
	// MaxBatch is the most events one batch may hold (default 1000).
	MaxBatch int
	// ShutdownTimeout bounds the drain on SIGTERM (default 15s).
	ShutdownTimeout time.Duration
}

// Storage says where Herald keeps its data.
type Storage struct {
	// Path is the SQLite database file (default data/herald.db, relative
	// to the working directory).
	Path string
	// URL, when set, is a PostgreSQL database (postgres://...) shared by
	// every node of a cluster; Path is then unused. It may hold a
	// password: it is never logged.
	URL string
	// Schema is the PostgreSQL schema (default public).
	Schema string
	// MaxConns bounds the PostgreSQL connection pool per node (default 16).
	MaxConns int
	// NoMigrate skips applying migrations at start (migrate: false).
	NoMigrate bool
}

// Delivery is the default delivery policy; channels may override parts.
type Delivery struct {
	// MaxAttempts is how many attempts a message gets before it is dead
	// (default 8).
	MaxAttempts int
	// BackoffInitial and BackoffMax bound the exponential backoff between
	// attempts (defaults 1s and 10m); jitter is added.
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Lease is how long a worker holds a job before another may take it
	// over (default 15s).
	Lease time.Duration
	// Concurrency is the default number of parallel deliveries per
	// channel (default 16).
	Concurrency int
	// MaxEmitDepth bounds emit chains (default 8).
	MaxEmitDepth int
}

// Retention says how long records are kept.
type Retention struct {
	// Events is how long events, runs, messages and attempts are kept
	// after they finish (default 168h).
	Events time.Duration
	// Idempotency is the window within which a repeated source+id or
	// Idempotency-Key returns the original event (default 24h).
	Idempotency time.Duration
}

// Network restricts where outbound calls may go.
type Network struct {
	// AllowPrivate lists address ranges that outbound calls may reach
	// even though they are loopback, private or link-local. By default
	// such addresses are refused.
	AllowPrivate []netip.Prefix
}

// Channel is a configured destination.
type Channel struct {
	Name string
	// Type is the provider type ("webhook", "email", "log", ...).
	Type string
	// Settings is the provider-specific settings struct returned by the
	// type's ChannelType.New, filled from the URL and explicit fields.
	Settings any
	// Concurrency is the number of parallel deliveries (0: default).
	Concurrency int
	// Timeout bounds one attempt (0: Delivery.Timeout).
	Timeout time.Duration
	// MaxAttempts overrides Delivery.MaxAttempts when > 0.
	MaxAttempts int
	// Circuit tunes the channel's circuit breaker (zero: defaults;
	// Failures < 0: off).
	Circuit breaker.Settings
	// Overflow says what happens to a text longer than the provider
	// takes: "truncate" (default) or "split" into several messages.
	Overflow string
	// Pace is the least time between two messages to one destination
	// (a chat, a phone number) from this node; 0 means no pacing.
	Pace time.Duration
	// Pos is where the channel was declared.
	Pos Pos
}

// Template is per-channel message content rendered from event data.
type Template struct {
	Name    string
	Subject *render.Template
	Text    *render.Template
	// HTML is rendered with html/template escaping.
	HTML *render.Template
	Pos  Pos
}

// Rule runs a workflow for every event that matches it.
type Rule struct {
	Name string
	// On lists event type patterns; "*" matches one dot-separated
	// segment, "**" any number.
	On []rule.Pattern
	// If, when set, must evaluate to true for the rule to run.
	If *rule.Condition
	// Key renders the correlation key; nil means source + "/" + subject.
	Key      *render.Template
	Priority int
	// CancelOn lists event type patterns: an event of such a type whose
	// correlation key (Key rendered against it) equals an active run's key
	// cancels that run (a recovery cancels the outage's escalation).
	CancelOn []rule.Pattern
	Steps    []*Step
	Pos      Pos
}

// Step kinds.
const (
	StepNotify    = "notify"
	StepWebhook   = "webhook"
	StepEmit      = "emit"
	StepDelay     = "delay"
	StepWaitAck   = "wait_ack"
	StepWaitEvent = "wait_event"
	StepDigest    = "digest"
)

// Step is one step of a workflow. Exactly one of the kind-specific fields
// is set, matching Kind.
type Step struct {
	// Name identifies the step in the run's state (default: kind and
	// 1-based index, e.g. "notify-1").
	Name string
	Kind string
	If   *rule.Condition
	Pos  Pos

	Notify    *Notify
	Webhook   *Webhook
	Emit      *Emit
	Delay     *Delay
	WaitAck   *WaitAck
	WaitEvent *WaitEvent
	Digest    *Digest
}

// Digest collects the events whose runs reach it within a window, per
// key, and lets one run (the first) continue with all of them
// (.digest.events, .digest.count); the others end there.
type Digest struct {
	// Key renders the grouping key (default: the run's correlation key).
	Key *render.Template
	// Window is the fixed window, from the first event (for: 10m).
	Window time.Duration
	// Lookback, when true, sends the first event at once and digests the
	// rest only if something was sent within Window.
	Lookback bool
	// Schedule, when set, closes windows at the ticks of a cron
	// expression instead (e.g. "0 9 * * *" for a morning digest).
	Schedule string
	// Next returns the schedule's next tick after t (nil without one).
	Next func(t time.Time) time.Time
}

// Delay pauses a run for a duration or until a time. Exactly one of For
// and Until is set; both render from the run's data ("10m", or
// "{{ .event.data.sla }}"; an RFC 3339 time for Until).
type Delay struct {
	For   *render.Template
	Until *render.Template
}

// WaitAck pauses a run until it is acknowledged or Timeout passes. If
// nobody acknowledged, the OnTimeout steps run; then the run goes on with
// the next step. A run acknowledged earlier passes every later wait_ack at
// once, so an escalation chain stops at the first acknowledgment.
type WaitAck struct {
	Timeout   time.Duration
	OnTimeout []*Step
}

// WaitEvent pauses a run until an event of Type arrives whose correlation
// value (Correlate rendered against that event) equals the run's (the same
// template rendered against the run's event) and for which If holds, or
// Timeout passes (then OnTimeout runs). The matched event is available to
// later steps as .steps.<name>.event.
type WaitEvent struct {
	Type      string
	Correlate *render.Template
	// If is evaluated with "event" the arriving event and "run.event"
	// the run's own event.
	If        *rule.Condition
	Timeout   time.Duration
	OnTimeout []*Step
}

// Notify sends a message through a channel to one or more recipients.
type Notify struct {
	// Channel is the channel messages go to; with Channels, the first.
	Channel string
	// Channels, when set, is a failover list: the step tries them in
	// order, moving on when one fails permanently, exhausts its retries,
	// or has not succeeded within Within.
	Channels []string
	// Within bounds the time each channel of Channels gets (0: no bound).
	Within time.Duration
	// To are templates rendering recipient addresses; empty for channels
	// with a fixed destination (one message is created).
	To []*render.Template
	// Template names a configured template; otherwise Subject/Text/HTML
	// (inline) are used.
	Template string
	Subject  *render.Template
	Text     *render.Template
	HTML     *render.Template
	// Data renders a JSON payload (the webhook channel's body).
	Data     *render.Value
	Priority int
}

// Webhook calls another system's HTTP API. Its outcome (status and JSON
// response) is stored in the run's state under the step's name.
type Webhook struct {
	// Channel optionally names a webhook channel whose secret, timeout,
	// concurrency and retry policy the call uses; default "http".
	Channel string
	Method  *render.Template
	URL     *render.Template
	Headers map[string]*render.Template
	// Body is a mapping (sent as JSON) or a string template (sent as is).
	Body *render.Value
}

// Emit publishes a follow-up event that other rules can match.
type Emit struct {
	Type    string
	Source  *render.Template
	Subject *render.Template
	// Data renders the event's JSON data.
	Data *render.Value
}

// Pos is a position in a configuration file.
type Pos struct {
	File string
	Line int
	Col  int
}

// ChannelType describes one provider type to the loader, which stays
// ignorant of providers: the composition root passes the table of types.
type ChannelType struct {
	// New returns a pointer to a zero settings struct with yaml tags. The
	// loader decodes the channel's provider fields (all but the common
	// ones: type, url, concurrency, timeout, max_attempts) into it
	// strictly; if the struct has a method Validate() error, it is called
	// and its error reported at the channel's position.
	New func() any
	// FromURL, when set, fills settings from an Apprise-style URL given as
	// the channel's "url" field (explicit fields then override it). For
	// types without it, "url" is decoded into the settings like any field.
	FromURL func(u string, settings any) error
	// Pace is the type's default Channel.Pace: the provider's documented
	// per-destination rate (Telegram about 1 message a second per chat).
	Pace time.Duration
}
