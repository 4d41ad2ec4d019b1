package loadgen

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

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
