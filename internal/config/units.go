package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/herald-notify/herald/internal/herald"
)

// duration reads a positive duration: Go's syntax ("90s", "1h30m") plus
// whole days ("7d", "1d12h").
func (f *file) duration(e entry) (time.Duration, bool) {
	s, ok := f.str(e)
	if !ok {
		return 0, false
	}
	d, err := parseDuration(s)
	if err != nil {
		f.errorf(e.node, e.field, "%q is not a duration: %v", shown(e.node), err)
		return 0, false
	}
	if d <= 0 {
		f.errorf(e.node, e.field, "must be longer than zero, got %q", shown(e.node))
		return 0, false
	}
	return d, true
}

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	days, rest, ok := strings.Cut(s, "d")
	if !ok || days == "" || strings.Trim(days, "0123456789") != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("use a number and a unit: ms, s, m, h or d (e.g. 30s, 10m, 7d)")
		}
		return d, nil
	}
	n, err := strconv.ParseUint(days, 10, 32)
	if err != nil || n > 100*365 {
		return 0, fmt.Errorf("days must be a whole number up to 36500 (e.g. 7d, 1d12h)")
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 {
			return 0, fmt.Errorf("after the days, use a duration like 12h or 30m (e.g. 1d12h)")
		}
		d += r
	}
	return d, nil
}

// byteSize reads a size in bytes: an integer, or a string with a unit:
// B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
func (f *file) byteSize(e entry) (int64, bool) {
	if _, isInt := e.node.(*ast.IntegerNode); isInt {
		n, ok := f.integer(e)
		if ok && n <= 0 {
			f.errorf(e.node, e.field, "must be at least 1 byte, got %d", n)
			return 0, false
		}
		return n, ok
	}
	s, ok := e.node.(*ast.StringNode)
	if !ok {
		f.errorf(e.node, e.field, "want a size (e.g. 1MiB, 512KiB or 1048576), got %s", kindOf(e.node))
		return 0, false
	}
	n, err := parseByteSize(s.Value)
	if err != nil {
		f.errorf(e.node, e.field, "%q is not a size: %v", shown(e.node), err)
		return 0, false
	}
	return n, true
}

func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	units := map[string]int64{
		"": 1, "B": 1,
		"KB": 1000, "MB": 1000 * 1000, "GB": 1000 * 1000 * 1000,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
	}
	mult, ok := units[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil {
		return 0, fmt.Errorf("use a whole number with B, KB, MB, GB, KiB, MiB or GiB (e.g. 512KiB, 1MiB)")
	}
	if n <= 0 {
		return 0, fmt.Errorf("must be at least 1 byte")
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("too large")
	}
	return n * mult, nil
}

// priority reads high, normal or low.
func (f *file) priority(e entry) (int, bool) {
	s, ok := f.str(e)
	if !ok {
		return 0, false
	}
	switch s {
	case "high":
		return int(herald.PriorityHigh), true
	case "normal":
		return int(herald.PriorityNormal), true
	case "low":
		return int(herald.PriorityLow), true
	}
	f.errorf(e.node, e.field, "unknown priority %q (priorities: high, normal, low)", shown(e.node))
	return 0, false
}

// ParseDuration parses a duration as configuration files write it: Go's
// syntax plus whole days ("7d"). The engine uses it for durations that
// templates render at run time.
func ParseDuration(s string) (time.Duration, error) { return parseDuration(s) }
