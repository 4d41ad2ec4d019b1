package herald

import (
	"errors"
	"fmt"
)

// Error codes classify failures so that callers can act on them (map them
// to an HTTP status, retry, or report) without matching on error text.
const (
	EINVALID      = "invalid"      // the request or input is malformed
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	ECONFLICT     = "conflict"     // the request conflicts with current state
	ETOOLARGE     = "too_large"    // a body or batch exceeds its limit
	EUNAVAILABLE  = "unavailable"  // a dependency is down; try again later
	EUNAUTHORIZED = "unauthorized" // missing or wrong credentials
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is an application error with a code and a message safe to show to
// the client. Err, when set, is the underlying cause for logs.
type Error struct {
	Code    string
	Message string
	// Details carries per-item errors, e.g. for a batch where several
	// entries fail validation.
	Details []ItemError
	Err     error
}

// ItemError is a validation error for one item of a batch or one field.
type ItemError struct {
	Index   int    `json:"index"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// EINTERNAL for any other non-nil error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: the message of an
// *Error, or a generic text for anything else (whose detail may hold
// secrets or internals and belongs in logs only).
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
