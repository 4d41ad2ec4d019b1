package webpush

import "time"

// DeriveKeys exposes the key schedule so tests can compare it with RFC
// 8291's intermediate values.
var DeriveKeys = deriveKeys

// SetNow fixes the clock a Sender signs VAPID tokens with.
func SetNow(w *Sender, now func() time.Time) { w.now = now }
