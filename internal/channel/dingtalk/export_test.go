package dingtalk

import "time"

// SetClock replaces the clock a Sender signs with, so that tests can
// check a signature for a known timestamp.
func SetClock(d *Sender, now func() time.Time) { d.now = now }
