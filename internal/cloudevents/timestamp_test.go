package cloudevents

import (
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Time // zero: invalid
	}{
		{"2018-04-05T17:31:00Z", time.Date(2018, 4, 5, 17, 31, 0, 0, time.UTC)},
		{"2018-04-05t17:31:00z", time.Date(2018, 4, 5, 17, 31, 0, 0, time.UTC)},
		{"2018-04-05T17:31:00.5Z", time.Date(2018, 4, 5, 17, 31, 0, 500_000_000, time.UTC)},
		{"2018-04-05T17:31:00.123456789Z", time.Date(2018, 4, 5, 17, 31, 0, 123456789, time.UTC)},
		{"2018-04-05T17:31:00.1234567891234Z", time.Date(2018, 4, 5, 17, 31, 0, 123456789, time.UTC)},
		{"2018-04-05T17:31:00+02:00", time.Date(2018, 4, 5, 15, 31, 0, 0, time.UTC)},
		{"2018-04-05T00:10:00-05:30", time.Date(2018, 4, 5, 5, 40, 0, 0, time.UTC)},
		{"2018-04-05T17:31:00-00:00", time.Date(2018, 4, 5, 17, 31, 0, 0, time.UTC)},
		{"2024-02-29T00:00:00Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"2016-12-31T23:59:60Z", time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)}, // leap second
		{"1678-01-01T00:00:00Z", time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"2261-12-31T23:59:59.999999999Z", time.Date(2261, 12, 31, 23, 59, 59, 999999999, time.UTC)},

		{"", time.Time{}},
		{"yesterday", time.Time{}},
		{"2018-04-05", time.Time{}},
		{"2018-04-05T17:31:00", time.Time{}},       // no offset
		{"2018-04-05 17:31:00Z", time.Time{}},      // space for T
		{"2018-04-05T17:31Z", time.Time{}},         // no seconds
		{"2018-04-05T17:31:00.Z", time.Time{}},     // empty fraction
		{"2018-04-05T17:31:00,5Z", time.Time{}},    // comma
		{"2018-04-05T17:31:00+0200", time.Time{}},  // offset without colon
		{"2018-04-05T17:31:00+24:00", time.Time{}}, // offset hour
		{"2018-04-05T17:31:00+02:60", time.Time{}},
		{"2018-04-05T24:00:00Z", time.Time{}},
		{"2018-04-05T23:60:00Z", time.Time{}},
		{"2018-04-05T23:59:61Z", time.Time{}},
		{"2023-02-29T00:00:00Z", time.Time{}},
		{"2018-13-05T17:31:00Z", time.Time{}},
		{"2018-00-05T17:31:00Z", time.Time{}},
		{"2018-04-00T17:31:00Z", time.Time{}},
		{"2018-04-31T17:31:00Z", time.Time{}},
		{"+2018-04-05T17:31:00Z", time.Time{}},
		{"2018-04-05T17:31:00ZZ", time.Time{}},
		{"2018-04-05T17:31:00Z ", time.Time{}},
		{"２018-04-05T17:31:00Z", time.Time{}},
		{"0000-01-01T00:00:00Z", time.Time{}},      // not storable in nanoseconds
		{"1678-01-01T00:30:00+01:00", time.Time{}}, // 1677 in UTC
		{"2300-01-01T00:00:00Z", time.Time{}},      // past 2262
		{"2261-12-31T23:30:00-01:00", time.Time{}}, // 2262 in UTC
	}
	for _, tt := range tests {
		got, err := parseTimestamp(tt.in)
		if tt.want.IsZero() {
			if err == nil {
				t.Errorf("parseTimestamp(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseTimestamp checks that whatever the parser accepts, time.Parse
// reads as the same instant, where time.Parse can read it at all.
func FuzzParseTimestamp(f *testing.F) {
	f.Add("2018-04-05T17:31:00Z")
	f.Add("2018-04-05T17:31:00.123456789+05:30")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTimestamp(s)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("parseTimestamp(%q) is not in UTC", s)
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return // lower-case t/z, leap seconds: RFC 3339 but not Go
		}
		if !got.Equal(want.Truncate(0)) {
			t.Fatalf("parseTimestamp(%q) = %v, time.Parse = %v", s, got, want)
		}
	})
}
