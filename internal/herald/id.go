package herald

import (
	"time"

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

// NewIDAt returns a new id whose time part is t instead of now: for
// records created on behalf of an injected clock, and for tests.
func NewIDAt(t time.Time) string {
	id, err := uuid.NewV7()
	if err != nil {
		panic("herald: cannot generate id: " + err.Error())
	}
	putMillis(&id, t)
	return id.String()
}

func putMillis(u *uuid.UUID, t time.Time) {
	ms := uint64(t.UnixMilli())
	u[0] = byte(ms >> 40)
	u[1] = byte(ms >> 32)
	u[2] = byte(ms >> 24)
	u[3] = byte(ms >> 16)
	u[4] = byte(ms >> 8)
	u[5] = byte(ms)
}

// MinIDAt returns the smallest id that NewID could have issued at t, so
// that "id < MinIDAt(t)" selects records created before t by id alone.
func MinIDAt(t time.Time) string {
	var u uuid.UUID
	putMillis(&u, t)
	u[6] = 0x70
	u[8] = 0x80
	return u.String()
}
