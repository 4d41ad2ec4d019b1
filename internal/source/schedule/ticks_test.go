package schedule

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func mustParse(t *testing.T, expr string) cron.Schedule {
	t.Helper()
	s, err := parser.Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestTicks lists the ticks after a start time, in UTC, across the
// daylight saving changes of 2026 in Europe/Berlin (29 March: 02:00 CET
// becomes 03:00 CEST; 25 October: 03:00 CEST becomes 02:00 CET) and
// elsewhere.
func TestTicks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		expr string
		zone string
		from string // RFC 3339
		want []string
	}{
		{
			name: "daily 02:30 across the spring change fires once a day",
			expr: "30 2 * * *", zone: "Europe/Berlin", from: "2026-03-27T12:00:00Z",
			want: []string{
				"2026-03-28T01:30:00Z", // 02:30 CET
				"2026-03-29T01:30:00Z", // 02:30 does not exist: 03:30 CEST
				"2026-03-30T00:30:00Z", // 02:30 CEST
				"2026-03-31T00:30:00Z",
			},
		},
		{
			name: "daily 02:30 across the autumn change fires once, at the first 02:30",
			expr: "30 2 * * *", zone: "Europe/Berlin", from: "2026-10-23T12:00:00Z",
			want: []string{
				"2026-10-24T00:30:00Z", // 02:30 CEST
				"2026-10-25T00:30:00Z", // first 02:30 (CEST); not again at 02:30 CET
				"2026-10-26T01:30:00Z", // 02:30 CET
			},
		},
		{
			name: "seconds and a list of hours in the repeated hour",
			expr: "15 30 2,3 * * *", zone: "Europe/Berlin", from: "2026-10-24T23:00:00Z",
			want: []string{
				"2026-10-25T00:30:15Z", // 02:30:15 CEST
				"2026-10-25T02:30:15Z", // 03:30:15 CET
				"2026-10-26T01:30:15Z",
			},
		},
		{
			name: "every 30 minutes follows elapsed time through the repeated hour",
			expr: "*/30 * * * *", zone: "Europe/Berlin", from: "2026-10-24T23:50:00Z",
			want: []string{
				"2026-10-25T00:00:00Z", // 02:00 CEST
				"2026-10-25T00:30:00Z", // 02:30 CEST
				"2026-10-25T01:00:00Z", // 02:00 CET
				"2026-10-25T01:30:00Z", // 02:30 CET
				"2026-10-25T02:00:00Z", // 03:00 CET
			},
		},
		{
			name: "every 30 minutes has no ticks in the skipped hour",
			expr: "*/30 * * * *", zone: "Europe/Berlin", from: "2026-03-29T00:10:00Z",
			want: []string{
				"2026-03-29T00:30:00Z", // 01:30 CET
				"2026-03-29T01:00:00Z", // 03:00 CEST
				"2026-03-29T01:30:00Z",
			},
		},
		{
			name: "daily at midnight where the spring change is at midnight",
			expr: "@daily", zone: "America/Santiago", from: "2026-09-04T12:00:00Z",
			want: []string{
				"2026-09-05T04:00:00Z", // 00:00 -04
				"2026-09-06T04:00:00Z", // 00:00 does not exist on 6 September: 01:00 -03
				"2026-09-07T03:00:00Z", // 00:00 -03
			},
		},
		{
			name: "at-every counts from the epoch",
			expr: "@every 90m", zone: "Europe/Berlin", from: "2026-01-01T00:10:00Z",
			want: []string{"2026-01-01T01:30:00Z", "2026-01-01T03:00:00Z", "2026-01-01T04:30:00Z"},
		},
		{
			name: "six fields put seconds first",
			expr: "*/20 * * * * *", zone: "UTC", from: "2026-01-01T00:00:05Z",
			want: []string{"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z"},
		},
		{
			name: "a start between seconds",
			expr: "0 3 * * *", zone: "Asia/Tokyo", from: "2026-01-01T17:59:59.5Z",
			want: []string{"2026-01-01T18:00:00Z", "2026-01-02T18:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := newTicks(mustParse(t, tt.expr), mustZone(t, tt.zone))
			at, err := time.Parse(time.RFC3339Nano, tt.from)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tt.want {
				at = k.next(at)
				if got := at.UTC().Format(time.RFC3339); got != w {
					t.Fatalf("tick %d = %s (%s), want %s", i, got, at, w)
				}
			}
		})
	}
}

func TestLatest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		expr       string
		first, now string
		want       string
	}{
		{"per second after a week", "* * * * * *", "2026-01-01T00:00:01Z", "2026-01-08T10:20:30.7Z", "2026-01-08T10:20:30Z"},
		{"now is a tick", "0 * * * *", "2026-01-01T01:00:00Z", "2026-01-01T05:00:00Z", "2026-01-01T05:00:00Z"},
		{"only first is due", "@daily", "2026-01-02T00:00:00Z", "2026-01-02T13:00:00Z", "2026-01-02T00:00:00Z"},
		{"yearly after three years", "@yearly", "2027-01-01T00:00:00Z", "2029-06-01T00:00:00Z", "2029-01-01T00:00:00Z"},
		{"dense hour long ago", "* * 2 * * *", "2026-01-01T02:00:00Z", "2026-01-03T10:00:00Z", "2026-01-03T02:59:59Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := newTicks(mustParse(t, tt.expr), time.UTC)
			first, _ := time.Parse(time.RFC3339Nano, tt.first)
			now, _ := time.Parse(time.RFC3339Nano, tt.now)
			if got := k.latest(first, now).UTC().Format(time.RFC3339); got != tt.want {
				t.Errorf("latest = %s, want %s", got, tt.want)
			}
		})
	}
}
