package aliyunsms

import "time"

// SetClock fixes the timestamp and nonce of s's requests, so that tests can
// compare whole request bodies.
func SetClock(s *Sender, now func() time.Time, nonce func() string) {
	s.now, s.nonce = now, nonce
}
