// Package store defines Herald's persistence contract: the durable record
// of events, runs, messages and attempts, and the outbox queue built into
// those records (a run or message with a due time is a job).
//
// A job's queue state is two columns on its own row: due_at and
// lease_token. An unleased job is claimable once due_at has passed. A
// claimed (leased) job has its due_at moved to the end of the lease, so a
// job held by a process that died becomes due again by itself when the
// lease runs out; finishing a job clears both columns, fenced by the token
// so that a worker whose lease was taken over cannot commit twice.
//
// Backends live in subpackages (sqlite, later postgres) and all run the
// conformance suite in storetest.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/herald-notify/herald/internal/herald"
)

// ErrLeaseLost is returned when a job's lease token no longer matches:
// another worker took the job over after the lease expired, so this
// worker's result must not be committed.
var ErrLeaseLost = errors.New("store: lease lost")

// Store is the storage driver contract. Methods are safe for concurrent use.
type Store interface {
	// Ingest commits the items atomically (all or nothing) and returns one
	// result per item, in order. An item whose event repeats a producer key
	// (source+id) or Idempotency-Key seen within the window is not stored:
	// its result carries the original event's id and Duplicate.
	Ingest(ctx context.Context, items []IngestItem, window time.Duration) ([]IngestResult, error)

	// ClaimRuns leases up to limit runs whose step is due at now.
	ClaimRuns(ctx context.Context, lease Lease, now time.Time, limit int) ([]RunJob, error)
	// ClaimMessages leases up to limit due messages of the given channels.
	ClaimMessages(ctx context.Context, channels []string, lease Lease, now time.Time, limit int) ([]MessageJob, error)
	// DueChannels lists the channels that have messages due at now.
	DueChannels(ctx context.Context, now time.Time) ([]string, error)
	// NextDue returns the earliest due time of any unleased or expired job,
	// or zero when there is none, so pollers can sleep until then.
	NextDue(ctx context.Context) (time.Time, error)

	// CompleteStep commits a run's step outcome (its new state, the
	// messages and events it created) atomically, fenced by the run's lease
	// token; it returns ErrLeaseLost if the token no longer holds.
	CompleteStep(ctx context.Context, out *StepOutcome) error
	// RecordAttempts commits delivery outcomes (attempt rows, message
	// status, and the resumption of runs waiting on a message). Each
	// outcome is fenced by its message's lease token; the returned slice
	// holds per-outcome errors (nil or ErrLeaseLost).
	RecordAttempts(ctx context.Context, outs []*AttemptOutcome) ([]error, error)

	// Hits returns the events that arrived for a run's waits, oldest first.
	Hits(ctx context.Context, runID string) ([]herald.Event, error)
	// AckRun records an acknowledgment (the first one counts) and makes
	// a waiting run due so its wait_ack step sees it. It returns the run.
	AckRun(ctx context.Context, runID, by string, now time.Time) (*herald.Run, error)
	// CancelRun cancels an active run: no more steps run, its waits are
	// removed and its undelivered messages are suppressed.
	CancelRun(ctx context.Context, runID, reason string, now time.Time) (*herald.Run, error)
	// Digest places a run in the digest group of (rule, step, key): it
	// leads a new group, joins the open one, or (lookback mode, nothing
	// sent within the window) passes straight through. It is idempotent
	// per run.
	Digest(ctx context.Context, d DigestJoin) (*DigestRole, error)
	// CloseDigest closes the group a run leads at a rule's step and
	// returns its events, oldest first; later runs start a new group.
	CloseDigest(ctx context.Context, rule, step, leader string) ([]herald.Event, error)
	// ActiveVersions lists the configuration versions of runs that are
	// not finished, so the engine can load them at start (their waits
	// must be matched by arriving events).
	ActiveVersions(ctx context.Context) ([]string, error)
	// GetRun returns a run.
	GetRun(ctx context.Context, runID string) (*herald.Run, error)

	// PostponeMessage gives a claimed message back, due at due, without
	// an attempt: its channel's circuit is open, so it waits instead of
	// failing. It is fenced by the lease token like RecordAttempts.
	PostponeMessage(ctx context.Context, id, token string, due, now time.Time) error

	// RetryMessage makes a dead or failed message due again with extra
	// attempts. It returns herald.ENOTFOUND or herald.ECONFLICT errors.
	RetryMessage(ctx context.Context, id string, extraAttempts int, now time.Time) (*herald.Message, error)

	// GetEvent returns an event with its runs, messages and attempts.
	GetEvent(ctx context.Context, id string) (*EventView, error)
	// ListMessages lists messages, newest first, with cursor pagination.
	ListMessages(ctx context.Context, f MessageFilter) ([]*herald.Message, string, error)
	// GetMessage returns one message with its attempts.
	GetMessage(ctx context.Context, id string) (*herald.Message, []*herald.Attempt, error)
	// ProviderIDs returns provider ids of earlier sent messages with the
	// same channel and correlation key, newest first.
	ProviderIDs(ctx context.Context, channel, key string, limit int) ([]string, error)

	// SaveConfig stores a configuration version's sources (idempotent).
	SaveConfig(ctx context.Context, version string, sources []ConfigSource) error
	// LoadConfig returns the sources of a stored configuration version.
	LoadConfig(ctx context.Context, version string) ([]ConfigSource, error)

	// GetState returns the value stored under key by PutState, or
	// herald.ENOTFOUND. Event sources (schedules, heartbeats, monitors)
	// keep their small durable state here.
	GetState(ctx context.Context, key string) ([]byte, error)
	// PutState stores value under key, replacing any earlier value.
	PutState(ctx context.Context, key string, value []byte) error
	// DeleteState removes key (no error if it is absent).
	DeleteState(ctx context.Context, key string) error
	// ListState returns every key with the given prefix and its value.
	ListState(ctx context.Context, prefix string) (map[string][]byte, error)

	// Stats returns queue depth and lag, for metrics.
	Stats(ctx context.Context, now time.Time) (*Stats, error)
	// Prune deletes finished records older than before, at most limit
	// events per call (with their runs, messages and attempts), and
	// forgets idempotency keys older than keysBefore. It returns how many
	// events were deleted.
	Prune(ctx context.Context, before, keysBefore time.Time, limit int) (int, error)

	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the store. Pending writes are completed first.
	Close() error
}

// Lease identifies one claim: jobs claimed together share a token, and
// stay leased until Until.
type Lease struct {
	Token string
	Until time.Time
}

// IngestItem is an event to store together with the runs it starts.
type IngestItem struct {
	Event herald.Event
	Runs  []NewRun
	// WaitKeys are the correlation values of the event for the runs
	// waiting for its type (wait_event): each run waiting on (type, key)
	// is given the event as a hit and made due.
	WaitKeys []string
	// Cancels lists (rule, key) pairs whose active runs the event cancels.
	Cancels []RuleKey
	// Emitter is the run that emitted the event, if any: it is neither
	// cancelled by it nor woken by it.
	Emitter string
}

// RuleKey names the active runs of a rule with a correlation key.
type RuleKey struct {
	Rule string
	Key  string
}

// NewRun is a run to create. With a Lease, the run is created already
// claimed (handed to an in-process worker without a round trip);
// otherwise it is due at Run.DueAt for any worker to claim.
type NewRun struct {
	Run   herald.Run
	Lease *Lease
}

// IngestResult is the outcome for one IngestItem.
type IngestResult struct {
	// EventID is the stored event's id, or the original's for a duplicate.
	EventID   string
	Duplicate bool
	// Woken counts the runs the event woke; CancelledRuns lists the runs
	// it cancelled.
	Woken         int
	CancelledRuns []string
}

// RunJob is a claimed run with the event it runs for.
type RunJob struct {
	Run   herald.Run
	Event herald.Event
	Lease Lease
}

// MessageJob is a claimed message.
type MessageJob struct {
	Message herald.Message
	// EventType is the type of the message's event (for headers, logs).
	EventType string
	Lease     Lease
}

// StepOutcome is what executing one step of a run produced.
type StepOutcome struct {
	RunID string
	Token string
	// Status, Step, State, Error and WaitingFor replace the run's fields.
	Status     herald.RunStatus
	Step       int
	State      json.RawMessage
	Error      string
	WaitingFor string
	// DueAt is when the run's next step is due (zero: none). With Lease
	// set, the run stays claimed by this process under the new lease.
	DueAt time.Time
	Lease *Lease
	Now   time.Time

	Messages []NewMessage
	Events   []IngestItem

	// Wait, when set, registers the run as waiting for an event of
	// Wait.Type with correlation value Wait.Key.
	Wait *Wait
	// Supersede lists messages a failover step gave up waiting for (its
	// within deadline passed): those not sent yet are suppressed.
	Supersede []string
	// ClearWaits removes the run's registered waits; ConsumedHits are
	// hits the step has looked at and removes.
	ClearWaits   bool
	ConsumedHits []string
	// WakeOnAck makes a waiting run due at once if it was acknowledged
	// while this step ran; WakeOnHit does the same for a hit that
	// arrived meanwhile.
	WakeOnAck bool
	WakeOnHit bool
}

// Wait is a run's registration for a correlated event.
type Wait struct {
	Type     string
	Key      string
	StepName string
	// Since is when the run's event was received: correlated events
	// received since then, before the wait was registered, count as hits.
	Since time.Time
}

// Hit is an event that arrived for a waiting run.
type Hit struct {
	Event herald.Event
}

// NewMessage is a message to create; like NewRun it may be created
// already leased to an in-process worker.
type NewMessage struct {
	Message herald.Message
	Lease   *Lease
}

// AttemptOutcome is the result of one delivery attempt.
type AttemptOutcome struct {
	Token   string
	Attempt herald.Attempt
	// Status, Error, ProviderID, DueAt (next retry, zero for none) and
	// Attempts replace the message's fields.
	Status     herald.MessageStatus
	Error      string
	ProviderID string
	DueAt      time.Time
	Attempts   int
	Now        time.Time
	// Resume, when set, wakes the run waiting on this (final) message.
	Resume *Resume
}

// Resume wakes a waiting run: its status becomes running, Output is
// stored in its state under steps.<StepName>, and it becomes due now (or
// is leased to Lease, for in-process hand-off).
type Resume struct {
	RunID    string
	StepName string
	Output   json.RawMessage
	Lease    *Lease
}

// EventView is an event with everything it caused.
type EventView struct {
	Event    herald.Event   `json:"event"`
	Runs     []*herald.Run  `json:"runs"`
	Messages []*MessageView `json:"messages"`
}

// MessageView is a message with its attempts.
type MessageView struct {
	herald.Message
	AttemptList []*herald.Attempt `json:"attempt_list"`
}

// MessageFilter selects messages for ListMessages.
type MessageFilter struct {
	Status  herald.MessageStatus
	Channel string
	EventID string
	Since   time.Time
	// Cursor is the opaque value returned by the previous page.
	Cursor string
	Limit  int
	Now    time.Time
}

// ConfigSource is one stored configuration file.
type ConfigSource struct {
	Path string `json:"path"`
	Data []byte `json:"data"`
}

// Stats describes the queue.
type Stats struct {
	// DueRuns and DueMessages count jobs due now and not leased.
	DueRuns int64
	// DueMessages by channel.
	DueMessages map[string]int64
	// OldestDue is the due time of the oldest due job (zero: none).
	OldestDue time.Time
	// Scheduled counts jobs due in the future (retries, timers).
	Scheduled int64
	// Leased counts jobs currently held by a worker.
	Leased int64
}

// WaitingForMessage is the WaitingFor value of a run waiting on a
// message's outcome. A run that failed because that message died keeps
// it, and is revived when the message is retried and succeeds.
func WaitingForMessage(id string) string { return "message " + id }

// DigestJoin asks to place a run in a digest group.
type DigestJoin struct {
	Rule, Step, Key string
	RunID, EventID  string
	Now             time.Time
	// ClosesAt is when a new group led by this run closes (window or
	// schedule); with Lookback it is ignored and Window used instead.
	ClosesAt time.Time
	Lookback bool
	Window   time.Duration
}

// Digest roles.
const (
	DigestLead   = "lead"
	DigestJoined = "join"
	DigestPass   = "pass"
)

// DigestRole is where a run landed in a digest group.
type DigestRole struct {
	Role     string
	Leader   string
	ClosesAt time.Time
}

// DeriveSending reports a pending or failed message whose lease is held
// (and unexpired) as "sending": that status is not stored, it is implied
// by the lease. Backends apply it to every message they return.
func DeriveSending(m *herald.Message, leaseToken string, now time.Time) {
	if leaseToken != "" && !m.DueAt.IsZero() && m.DueAt.After(now) &&
		(m.Status == herald.MessagePending || m.Status == herald.MessageFailed) {
		m.Status = herald.MessageSending
		m.DueAt = time.Time{}
	}
}
