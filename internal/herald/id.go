package herald

import (
	"github.com/google/uuid"
)

// NewID returns a new time-ordered identifier (UUIDv7, lower-case text).
// Ids sort by creation time, which keeps index inserts append-mostly and
// lets cursors paginate on (time, id) without surprises.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only when the system random source fails; nothing
		// sensible can continue without randomness.
		panic("herald: cannot generate id: " + err.Error())
	}
	return id.String()
}

// ValidID reports whether s has the form of an identifier Herald issues.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
