package channel

import "strings"

// ValidE164 reports whether v is a phone number in E.164 form: "+", a
// country code not starting with 0, and 8 to 15 digits in all. SMS
// providers reject anything else, so adapters check before sending
// rather than spend a retry on a permanent failure.
func ValidE164(v string) bool {
	return len(v) >= 9 && len(v) <= 16 && v[0] == '+' && v[1] != '0' && Digits(v[1:])
}

// Digits reports whether v is a non-empty run of ASCII digits, the only
// digits the providers take in numbers and account IDs.
func Digits(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return v != ""
}

// LooksLikePhone reports whether v could be a mobile number as the
// chat-robot APIs (DingTalk, WeCom) accept them for @-mentions: an
// optional "+", then 5 to 15 digits, with spaces, '-' and parentheses
// allowed between them. Those APIs match numbers loosely, so this is
// deliberately laxer than ValidE164.
func LooksLikePhone(v string) bool {
	v = strings.TrimPrefix(strings.TrimSpace(v), "+")
	digits := 0
	for _, c := range v {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == ' ', c == '-', c == '(', c == ')':
		default:
			return false
		}
	}
	return digits >= 5 && digits <= 15
}
