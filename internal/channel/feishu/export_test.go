package feishu

import "time"

// SetClock replaces the clock a Sender signs with, so that tests can
// check a signature for a known timestamp.
func SetClock(f *Sender, now func() time.Time) { f.now = now }
