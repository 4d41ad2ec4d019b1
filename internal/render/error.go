package render

import (
	"errors"
	"fmt"
	htemplate "html/template"
	"regexp"
	"strconv"
	"strings"
	ttemplate "text/template"
)

// Error is a template that failed to parse or to execute.
type Error struct {
	// Template is the template's name.
	Template string
	// Line is the 1-based line in the template's text; 0 when unknown.
	Line int
	// Message says what went wrong, including the field path for a
	// missing key, e.g. `map has no entry for key "email"
	// (.event.data.customer.email)`.
	Message string
	// Err is the error text/template or html/template returned.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("template %q: line %d: %s", e.Template, e.Line, e.Message)
	}
	return fmt.Sprintf("template %q: %s", e.Template, e.Message)
}

// Unwrap returns the underlying template error.
func (e *Error) Unwrap() error { return e.Err }

var (
	// execErrorRE takes apart text/template's execution errors:
	// template: NAME:LINE:COL: executing "NAME" at <NODE>: MESSAGE
	execErrorRE = regexp.MustCompile(`(?s)^template: .*?:(\d+):\d+: executing ".*?" at <(.*?)>: (.*)$`)
	// parseErrorRE takes apart parse errors: template: NAME:LINE: MESSAGE
	parseErrorRE = regexp.MustCompile(`(?s)^template: .*?:(\d+):(?:\d+:)? (.*)$`)
)

// newError rewrites a text/template or html/template error into an
// *Error. The standard messages repeat the name and hide the line in a
// "name:line:col" prefix; users read these in a console or a CLI, so they
// get the line and the field path in words. An unrecognised message is
// kept whole.
func newError(name string, err error) *Error {
	e := &Error{Template: name, Message: err.Error(), Err: err}
	var herr *htemplate.Error
	if errors.As(err, &herr) {
		e.Line = herr.Line
		e.Message = herr.Description
		if herr.ErrorCode == htemplate.ErrEndContext {
			// The description ends in an internal state dump.
			e.Message = "ends inside a tag, attribute, quote or comment; close it"
		}
		return e
	}
	var xerr ttemplate.ExecError
	if errors.As(err, &xerr) {
		if m := execErrorRE.FindStringSubmatch(xerr.Err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Message = execMessage(m[2], m[3])
			return e
		}
		e.Message = strings.TrimPrefix(xerr.Err.Error(), "template: ")
		return e
	}
	if m := parseErrorRE.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Message = m[2]
	}
	return e
}

func execMessage(node, msg string) string {
	if strings.HasPrefix(node, "_") {
		// A helper the package adds (see rewrite.go): its name means
		// nothing to the user.
		_, after, ok := strings.Cut(msg, ": ")
		if strings.HasPrefix(msg, "error calling _") && ok {
			return after
		}
		return msg
	}
	if field, ok := strings.CutPrefix(msg, "nil pointer evaluating interface {}."); ok {
		msg = fmt.Sprintf("cannot read %q of null", field)
	}
	return fmt.Sprintf("%s (%s)", msg, node)
}
