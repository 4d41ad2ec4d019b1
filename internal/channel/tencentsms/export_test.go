package tencentsms

import "time"

// SetClock fixes the time of s's requests so that whole requests can be
// compared.
func SetClock(s *Sender, now func() time.Time) { s.now = now }
