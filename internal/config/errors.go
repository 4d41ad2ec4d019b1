package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// String returns "file:line:col", or less when parts are unknown.
func (p Pos) String() string {
	switch {
	case p.Line > 0:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	default:
		return p.File
	}
}

// FieldError is one mistake in a configuration: where it is, which field,
// and what is wrong. Messages never contain secret values.
type FieldError struct {
	Pos Pos
	// Field is the path of the field, e.g. "rules[0].steps[1].notify.channel";
	// empty for mistakes that are not about one field (YAML syntax).
	Field   string
	Message string
}

// Error implements error: "shop.yaml:12:7: rules[0].steps[1].notify.channel:
// unknown channel \"mial\" (channels: log, mail)".
func (e *FieldError) Error() string {
	var b strings.Builder
	if pos := e.Pos.String(); pos != "" {
		b.WriteString(pos)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every mistake found in a configuration. Load and LoadSources
// return it (as error) sorted by file, line and column.
type Errors []*FieldError

// Error implements error: one mistake per line, sorted by position.
func (es Errors) Error() string {
	sorted := slices.Clone(es)
	sortErrors(sorted)
	lines := make([]string, len(sorted))
	for i, e := range sorted {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func sortErrors(es Errors) {
	slices.SortStableFunc(es, func(a, b *FieldError) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
		)
	})
}
