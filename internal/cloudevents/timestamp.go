package cloudevents

import (
	"fmt"
	"time"
)

// parseTimestamp parses an RFC 3339 date-time and returns it in UTC.
//
// time.Parse is not used because it is both more and less lenient than
// RFC 3339: it accepts a comma before the fraction and a "+24:00" offset,
// and rejects the lower-case "t" and "z" the RFC allows. Fractions beyond
// nanoseconds are truncated. A leap second (":60") is accepted, as the RFC
// grammar allows, and lands on the first instant of the next minute,
// because time.Time cannot represent it.
// minTime and maxTime bound the times Herald can store (nanoseconds in
// an int64), rounded inwards to whole years.
var (
	minTime = time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2261, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

func parseTimestamp(s string) (time.Time, error) {
	t, ok := parseRFC3339(s)
	if !ok {
		return time.Time{}, fmt.Errorf("must be an RFC 3339 timestamp, got %s", quoteShort(s))
	}
	// Herald keeps times as nanoseconds since 1970 in a 64-bit integer
	// (in both storage backends), which spans 1677-09-21 to 2262-04-11.
	// A time outside it cannot be stored faithfully, so it is refused.
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, fmt.Errorf("must be an RFC 3339 timestamp between 1678 and 2261, got %s", quoteShort(s))
	}
	return t, nil
}

func parseRFC3339(s string) (time.Time, bool) {
	// date-fullyear "-" date-month "-" date-mday "T" time-hour ":"
	// time-minute ":" time-second — exactly 19 bytes.
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n <= 9 {
				nsec = nsec*10 + int(rest[n]-'0')
			}
			n++
		}
		if n == 1 {
			return time.Time{}, false
		}
		for k := n - 1; k < 9; k++ { // scale to nanoseconds
			nsec *= 10
		}
		rest = rest[n:]
	}
	offset := 0
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// digits parses a fixed-width run of ASCII digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn returns the number of days of month m in year y.
func daysIn(m time.Month, y int) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
