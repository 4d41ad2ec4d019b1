package herald

import (
	"encoding/json"
	"time"
)

// RunStatus is the state of a run.
type RunStatus string

// Run statuses. A run is "running" while it has a step to execute (its job
// is due or held), "waiting" while a step waits for something (a message
// outcome, a timer, an acknowledgment, an event), and ends "completed",
// "failed" or "cancelled".
const (
	RunRunning   RunStatus = "running"
	RunWaiting   RunStatus = "waiting"
	RunCompleted RunStatus = "completed"
	RunFailed    RunStatus = "failed"
	RunCancelled RunStatus = "cancelled"
)

// Final reports whether the status is terminal.
func (s RunStatus) Final() bool {
	return s == RunCompleted || s == RunFailed || s == RunCancelled
}

// Run is one execution of a rule's workflow for one event. Its state is
// durable: Step is the index of the next step to execute and State holds
// what earlier steps produced (webhook responses, emitted event ids).
type Run struct {
	ID      string `json:"id"`
	EventID string `json:"event_id"`
	Rule    string `json:"rule"`
	// ConfigVersion is the hash of the configuration the run started with;
	// the run keeps executing against that version after a reload.
	ConfigVersion string    `json:"config_version"`
	Key           string    `json:"key,omitempty"`
	Status        RunStatus `json:"status"`
	Step          int       `json:"step"`
	// State is a JSON object: {"steps": {"<name>": {...}}}.
	State     json.RawMessage `json:"state,omitempty"`
	Error     string          `json:"error,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	// DueAt is when the run's next step is due; zero when it has none.
	DueAt time.Time `json:"due_at,omitzero"`
	// WaitingFor describes what a waiting run waits for.
	WaitingFor string `json:"waiting_for,omitempty"`
	// AckedAt and AckedBy record the run's acknowledgment, if any.
	AckedAt time.Time `json:"acked_at,omitzero"`
	AckedBy string    `json:"acked_by,omitempty"`
}
