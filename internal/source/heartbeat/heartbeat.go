// Package heartbeat is the dead man's switch event source: a heartbeat
// expects an event of a type at least every interval (per key, when the
// heartbeat has a key template), and emits heartbeat.missed when one is
// missing past the interval plus the grace period, and
// heartbeat.recovered when it arrives again — once per outage.
//
// The composition root feeds every accepted event to Tracker.Observe,
// which costs a map lookup for events of types no heartbeat expects.
//
// Last-seen times are written to the store's state
// (heartbeat/<name>/<key>) at most every FlushEvery, and at Stop; an
// outage's start and end are written at once. A crash therefore loses at
// most FlushEvery's worth of last-seen updates, which cannot cause a
// false alarm: at start, a key that was not missed counts as seen at the
// start, so it gets a whole interval (plus grace) to beat again. The
// price is that a job that stopped beating shortly before a server
// outage is reported up to the length of that outage late. A key that
// was missed stays missed across restarts: its outage is not announced
// again, and its next beat announces the recovery.
package heartbeat

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/source"
)

// Kind names heartbeats in event sources and state keys.
const Kind = "heartbeat"

// The event types heartbeats emit.
const (
	TypeMissed    = "heartbeat.missed"
	TypeRecovered = "heartbeat.recovered"
)

// Defaults.
const (
	DefaultFlushEvery = 30 * time.Second
	DefaultMaxKeys    = 10_000
	minRetry          = time.Second
	// emitBatch bounds the events emitted in one call.
	emitBatch = 500
	maxRetry  = time.Minute
	// stopTimeout bounds the last write of last-seen times at Stop.
	stopTimeout = 5 * time.Second
)

// Options are what a Tracker needs from its caller.
type Options struct {
	Emitter source.Emitter
	State   source.State
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Started is when the server started (default: Now when New is
	// called). Keys in the state that were not missed count as seen then
	// at the latest; pass the process's start time when a Tracker
	// replaces another after a configuration reload, so the reload does
	// not postpone deadlines.
	Started time.Time
	// FlushEvery bounds how often last-seen times are written (default
	// 30s).
	FlushEvery time.Duration
	// MaxKeys bounds the keys one heartbeat tracks (default 10,000); beats
	// of further keys are ignored, with a warning.
	MaxKeys int
}

// Tracker runs the configured heartbeats. Observe and the Tracker's
// goroutine share its state under one lock.
type Tracker struct {
	opts   Options
	byType map[string][]*beat
	beats  []*beat
	loop   *source.Loop

	mu        sync.Mutex
	loaded    bool
	lastFlush time.Time
	retry     time.Duration
	stopOnce  sync.Once
}

// beat is one configured heartbeat and its keys.
type beat struct {
	cfg  *config.Heartbeat
	keys map[string]*keyState
	// full is set once the key limit was hit (warned once).
	full bool
}

// keyState is what is known about one key of a heartbeat.
type keyState struct {
	// lastSeen is when a beat last arrived (zero: never).
	lastSeen time.Time
	// since is what the deadline counts from: the last beat, or the
	// server's start if later.
	since time.Time
	// missed is set while an outage is open; expectedBy is its deadline.
	missed     bool
	expectedBy time.Time
	// recovering is set when a beat arrived during an outage and the
	// recovery is still to be emitted.
	recovering bool
	// dirty is set when lastSeen changed since it was last written.
	dirty bool
}

// stored is a key's durable state.
type stored struct {
	LastSeen time.Time `json:"last_seen"`
	// Since is what the deadline counted from (the last beat, or when
	// the key was first expected).
	Since      time.Time `json:"since"`
	Missed     bool      `json:"missed,omitempty"`
	ExpectedBy time.Time `json:"expected_by"`
}

// New returns a Tracker for the heartbeats. It does not start: call
// Start.
func New(heartbeats map[string]*config.Heartbeat, opts Options) *Tracker {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Started.IsZero() {
		opts.Started = opts.Now()
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = DefaultFlushEvery
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	t := &Tracker{opts: opts, byType: map[string][]*beat{}, lastFlush: opts.Now()}
	for _, cfg := range heartbeats {
		b := &beat{cfg: cfg, keys: map[string]*keyState{}}
		if cfg.Key == nil {
			// Without a key the one heartbeat is expected from now on
			// (or since it was first seen, per the state).
			b.keys[""] = &keyState{since: opts.Now(), dirty: true}
		}
		t.beats = append(t.beats, b)
	}
	slices.SortFunc(t.beats, func(a, b *beat) int { return cmp.Compare(a.cfg.Name, b.cfg.Name) })
	for _, b := range t.beats {
		t.byType[b.cfg.Type] = append(t.byType[b.cfg.Type], b)
	}
	t.loop = source.NewLoop(opts.Now, t.evaluate)
	return t
}

// Start starts the Tracker's goroutine.
func (t *Tracker) Start() { t.loop.Start() }

// Wake makes the Tracker look at the clock again now (after a test moved
// it).
func (t *Tracker) Wake() { t.loop.Wake() }

// Stop stops the goroutine and writes the last-seen times not yet
// written. It is idempotent.
func (t *Tracker) Stop() {
	t.loop.Stop()
	t.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		t.mu.Lock()
		loaded := t.loaded
		t.mu.Unlock()
		if loaded {
			t.flush(ctx, true)
		}
	})
}

// Observe counts ev as a beat of every heartbeat that expects its type.
// The composition root calls it for every accepted event; for other
// types it is one map lookup.
func (t *Tracker) Observe(ev *herald.Event) {
	beats := t.byType[ev.Type]
	if len(beats) == 0 {
		return
	}
	now := t.opts.Now()
	var scope map[string]any
	wake := false
	for _, b := range beats {
		key := ""
		if b.cfg.Key != nil {
			if scope == nil {
				scope = map[string]any{"event": eventScope(ev)}
			}
			k, err := b.cfg.Key.Execute(scope)
			if err != nil {
				t.opts.Logger.Warn("heartbeat key cannot be rendered for an event; the beat is not counted", "heartbeat", b.cfg.Name, "event", ev.ID, "err", err)
				continue
			}
			key = k
		}
		t.mu.Lock()
		ks := b.keys[key]
		if ks == nil {
			if len(b.keys) >= t.opts.MaxKeys {
				if !b.full {
					b.full = true
					t.opts.Logger.Warn("heartbeat has too many keys; beats of new keys are ignored", "heartbeat", b.cfg.Name, "max_keys", t.opts.MaxKeys)
				}
				t.mu.Unlock()
				continue
			}
			ks = &keyState{}
			b.keys[key] = ks
			wake = true // its deadline may be sooner than the loop's
		}
		ks.lastSeen, ks.since, ks.dirty = now, now, true
		if ks.missed && !ks.recovering {
			ks.recovering = true
			wake = true
		}
		t.mu.Unlock()
	}
	if wake {
		t.loop.Wake()
	}
}

// change is an outage starting or ending, decided under the lock and
// applied once its event is emitted.
type change struct {
	b        *beat
	key      string
	ks       *keyState
	missed   bool // true: outage starts; false: it ends
	deadline time.Time
	// seen is lastSeen when the change was decided.
	seen time.Time
}

// evaluate emits the outages that started and ended, writes state, and
// returns when the next deadline (or write) is due.
func (t *Tracker) evaluate(ctx context.Context) time.Time {
	now := t.opts.Now()
	t.mu.Lock()
	loaded := t.loaded
	t.mu.Unlock()
	if !loaded {
		if err := t.load(ctx); err != nil {
			t.opts.Logger.Warn("heartbeat state unavailable; retrying", "err", err)
			return now.Add(t.backoff())
		}
		// Record at once when keys configured now were first expected.
		t.flush(ctx, true)
	}

	t.mu.Lock()
	var changes []change
	next := time.Time{}
	for _, b := range t.beats {
		for key, ks := range b.keys {
			switch {
			case ks.missed && ks.recovering:
				changes = append(changes, change{b: b, key: key, ks: ks, deadline: ks.expectedBy, seen: ks.lastSeen})
			case !ks.missed:
				deadline := ks.since.Add(b.cfg.Interval + b.cfg.Grace)
				if now.Before(deadline) {
					next = earliest(next, deadline)
					continue
				}
				changes = append(changes, change{b: b, key: key, ks: ks, missed: true, deadline: deadline, seen: ks.lastSeen})
			}
		}
	}
	slices.SortFunc(changes, func(a, b change) int {
		return cmp.Or(cmp.Compare(a.b.cfg.Name, b.b.cfg.Name), cmp.Compare(a.key, b.key))
	})
	events := make([]herald.Event, len(changes))
	for i, c := range changes {
		events[i] = t.event(c)
	}
	t.mu.Unlock()

	// A mass outage is emitted in batches, so that one batch stays a
	// reasonable transaction; the batches that went through are kept.
	for i := 0; i < len(events); i += emitBatch {
		end := min(i+emitBatch, len(events))
		if err := t.opts.Emitter.Emit(ctx, events[i:end]); err != nil {
			t.opts.Logger.Warn("cannot emit heartbeat events; retrying", "events", len(events)-i, "err", err)
			t.apply(ctx, changes[:i])
			return now.Add(t.backoff())
		}
	}
	if len(events) > 0 {
		t.retry = 0
		t.apply(ctx, changes)
		next = now // a beat may have arrived while emitting
	}
	if at, pending := t.flush(ctx, false); pending {
		next = earliest(next, at)
	}
	return next
}

// apply records emitted changes in memory and in the state.
func (t *Tracker) apply(ctx context.Context, changes []change) {
	t.mu.Lock()
	writes := make(map[string]stored, len(changes))
	for _, c := range changes {
		ks := c.ks
		if c.missed {
			ks.missed, ks.expectedBy = true, c.deadline
			// A beat that arrived while the event was being emitted
			// ends the outage at once.
			ks.recovering = ks.lastSeen.After(c.seen)
			t.opts.Logger.Info("heartbeat missed", "heartbeat", c.b.cfg.Name, "key", c.key, "expected_by", c.deadline)
		} else {
			ks.missed, ks.recovering = false, false
			t.opts.Logger.Info("heartbeat recovered", "heartbeat", c.b.cfg.Name, "key", c.key)
		}
		ks.dirty = false
		writes[stateKey(c.b.cfg.Name, c.key)] = ks.stored()
	}
	t.mu.Unlock()
	t.write(ctx, writes)
}

// flush writes the dirty last-seen times when FlushEvery has passed since
// the last write (or when forced); otherwise it reports when it will.
func (t *Tracker) flush(ctx context.Context, force bool) (at time.Time, pending bool) {
	t.mu.Lock()
	now := t.opts.Now()
	due := t.lastFlush.Add(t.opts.FlushEvery)
	writes := map[string]stored{}
	for _, b := range t.beats {
		for key, ks := range b.keys {
			if !ks.dirty {
				continue
			}
			if !force && now.Before(due) {
				t.mu.Unlock()
				return due, true
			}
			ks.dirty = false
			writes[stateKey(b.cfg.Name, key)] = ks.stored()
		}
	}
	t.lastFlush = now
	t.mu.Unlock()
	t.write(ctx, writes)
	return time.Time{}, false
}

func (t *Tracker) write(ctx context.Context, writes map[string]stored) {
	for _, k := range sortedKeys(writes) {
		if err := source.PutJSON(ctx, t.opts.State, k, writes[k]); err != nil {
			// Last-seen times are best effort (see the package
			// comment); an outage whose start was not written may be
			// announced again after a restart, under the same id.
			t.opts.Logger.Warn("cannot write heartbeat state", "key", k, "err", err)
		}
	}
}

// load reads every heartbeat's keys from the state and merges them with
// beats observed since the start.
func (t *Tracker) load(ctx context.Context) error {
	all := map[*beat]map[string][]byte{}
	for _, b := range t.beats {
		vals, err := t.opts.State.ListState(ctx, statePrefix(b.cfg.Name))
		if err != nil {
			return err
		}
		all[b] = vals
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for b, vals := range all {
		prefix := statePrefix(b.cfg.Name)
		for k, v := range vals {
			var st stored
			if err := json.Unmarshal(v, &st); err != nil {
				t.opts.Logger.Warn("ignoring unreadable heartbeat state", "key", k, "err", err)
				continue
			}
			key := k[len(prefix):]
			ks := b.keys[key]
			if ks == nil {
				if len(b.keys) >= t.opts.MaxKeys {
					continue
				}
				ks = &keyState{}
				b.keys[key] = ks
			}
			if !ks.lastSeen.After(st.LastSeen) {
				// Nothing newer was observed since the start.
				ks.lastSeen, ks.dirty = st.LastSeen, false
				ks.since = later(st.Since, t.opts.Started)
			}
			if st.Missed {
				ks.missed, ks.expectedBy = true, st.ExpectedBy
				// A beat observed before the state was read ends it.
				ks.recovering = ks.lastSeen.After(st.LastSeen)
			}
		}
	}
	t.loaded = true
	return nil
}

func (ks *keyState) stored() stored {
	return stored{LastSeen: ks.lastSeen, Since: ks.since, Missed: ks.missed, ExpectedBy: ks.expectedBy}
}

// event is the event of an outage starting or ending. Its id is derived
// from the outage's deadline, so the same outage is the same event in
// every process.
func (t *Tracker) event(c change) herald.Event {
	name := c.b.cfg.Name
	subject := name
	if c.b.cfg.Key != nil {
		subject = name + "/" + c.key
	}
	typ, what, at := TypeMissed, "missed", c.deadline
	if !c.missed {
		typ, what, at = TypeRecovered, "recovered", c.seen
	}
	data := map[string]any{
		"name":        name,
		"key":         c.key,
		"last_seen":   nil,
		"expected_by": c.deadline.UTC().Format(time.RFC3339Nano),
	}
	if !c.seen.IsZero() {
		data["last_seen"] = c.seen.UTC().Format(time.RFC3339Nano)
	}
	return herald.Event{
		SpecID:          subject + "/" + what + "/" + strconv.FormatInt(c.deadline.UnixMilli(), 10),
		Source:          source.Name(Kind, name),
		Type:            typ,
		Subject:         subject,
		Time:            at.UTC(),
		DataContentType: "application/json",
		Data:            mustJSON(data),
	}
}

func (t *Tracker) backoff() time.Duration {
	t.retry = min(max(2*t.retry, minRetry), maxRetry)
	return t.retry
}

func statePrefix(name string) string { return source.StateKey(Kind, name) + "/" }

func stateKey(name, key string) string { return statePrefix(name) + key }

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mustJSON encodes a value that always encodes (strings and nil).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
