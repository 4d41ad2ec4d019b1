package channel

import "testing"

func TestMatchEventType(t *testing.T) {
	for _, c := range []struct {
		pats []string
		in   string
		want bool
	}{
		{[]string{"order.paid"}, "order.paid", true},
		{[]string{"order.*"}, "order.paid", true},
		{[]string{"order.*"}, "order.paid.late", true},
		{[]string{"*.recovered"}, "disk.recovered", true},
		{[]string{"*.recovered"}, "a.disk.recovered", true},
		{[]string{"*.recovered"}, "a/disk.recovered", false},
		{[]string{"*.push"}, "github/x.push", false},
		{[]string{"github.push*"}, "github.push/tag", true},
		{[]string{"ord?r.*"}, "order.paid/late", false},
		{[]string{"x", "order*"}, "orders", true},
		{[]string{"["}, "[", false},
		{nil, "order.paid", false},
	} {
		if got := MatchEventType(c.pats, c.in); got != c.want {
			t.Errorf("MatchEventType(%q, %q) = %v", c.pats, c.in, got)
		}
	}
}
