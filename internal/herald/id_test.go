package herald

import (
	"testing"
	"time"
)

func TestIDsOrderByTime(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := NewIDAt(t0)
	if !ValidID(old) {
		t.Fatalf("NewIDAt gave invalid id %q", old)
	}
	if !(old < MinIDAt(t0.Add(time.Millisecond))) {
		t.Errorf("id at t0 %s not below MinIDAt(t0+1ms) %s", old, MinIDAt(t0.Add(time.Millisecond)))
	}
	if !(MinIDAt(t0) <= old) {
		t.Errorf("MinIDAt(t0) %s above id at t0 %s", MinIDAt(t0), old)
	}
	a, b := NewID(), NewID()
	if a == b || !ValidID(a) {
		t.Errorf("NewID: %q %q", a, b)
	}
}
