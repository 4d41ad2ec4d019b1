package loadgen

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, read-only here
)

// LedgerTables are the tables whose rows the report counts: what one
// event costs the database.
var LedgerTables = []string{"events", "runs", "messages", "attempts"}

// CountRows counts the rows of LedgerTables in Herald's SQLite file,
// opened read-only (it may belong to a running server: WAL lets a reader
// in beside the writer).
func CountRows(ctx context.Context, path string) (map[string]int64, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("count rows in %s: %w", path, err)
	}
	defer db.Close()
	out := make(map[string]int64, len(LedgerTables))
	for _, t := range LedgerTables {
		var n int64
		// Table names come from LedgerTables, never from input.
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("count rows in %s: %s: %w", path, t, err)
		}
		out[t] = n
	}
	return out, nil
}

// Stage names of Stages, in the order an event passes them.
const (
	// StageToRun is from the event's acceptance (received_at, before its
	// commit) to the run executing its notify step (the message's
	// created_at): the ingest commit and the wait in the run pool.
	StageToRun = "accepted → run step"
	// StageToAttempt is from the run step to the first delivery attempt
	// starting: the step's commit and the wait in the channel pool.
	StageToAttempt = "run step → attempt start"
	// StageAttempt is the first attempt itself: the HTTP call.
	StageAttempt = "attempt (HTTP call)"
)

// StageNames lists the stages in order.
var StageNames = []string{StageToRun, StageToAttempt, StageAttempt}

// Stages splits the server-side latency of events received since since
// into the stages above, from the timestamps the ledger keeps (first
// attempts only). Together with the driver's and receiver's clocks they
// show where an event's end-to-end time goes.
func Stages(ctx context.Context, path string, since time.Time) (map[string]Percentiles, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("read stages from %s: %w", path, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT e.received_at, m.created_at, a.started_at, a.duration
		FROM events e JOIN messages m ON m.event_id = e.id
		JOIN attempts a ON a.message_id = m.id AND a.number = 1
		WHERE e.received_at >= ?`, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("read stages from %s: %w", path, err)
	}
	defer rows.Close()
	var toRun, toAttempt, attempt []time.Duration
	for rows.Next() {
		var recv, created, started, dur int64
		if err := rows.Scan(&recv, &created, &started, &dur); err != nil {
			return nil, fmt.Errorf("read stages from %s: %w", path, err)
		}
		toRun = append(toRun, time.Duration(created-recv))
		toAttempt = append(toAttempt, time.Duration(started-created))
		attempt = append(attempt, time.Duration(dur))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stages from %s: %w", path, err)
	}
	return map[string]Percentiles{
		StageToRun:     Summarize(toRun),
		StageToAttempt: Summarize(toAttempt),
		StageAttempt:   Summarize(attempt),
	}, nil
}
