package cloudevents

import (
	"fmt"

	"github.com/herald-notify/herald/internal/herald"
)

// fieldError is why one event is invalid: the attribute at fault (empty
// when the problem is the event as a whole) and a complete, client-safe
// message.
type fieldError struct {
	field string
	msg   string
}

// attrErr reports a problem with an attribute of a JSON-encoded event.
func attrErr(name string, err error) *fieldError {
	name = shortName(name)
	return &fieldError{field: name, msg: fmt.Sprintf("attribute %q: %v", name, err)}
}

// attrMissing reports a required attribute that is absent or null.
func attrMissing(name string) *fieldError {
	return &fieldError{field: name, msg: fmt.Sprintf("attribute %q is required", name)}
}

// shortName bounds a client-chosen attribute name before it is echoed in a
// message.
func shortName(name string) string {
	if len(name) <= 64 {
		return name
	}
	cut := 64
	for cut > 0 && name[cut]&0xC0 == 0x80 {
		cut--
	}
	return name[:cut] + "…"
}

// invalid returns the error for a request whose single event is invalid.
func invalid(fe *fieldError) *herald.Error {
	return &herald.Error{
		Code:    herald.EINVALID,
		Message: fe.msg,
		Details: []herald.ItemError{{Index: 0, Field: fe.field, Message: fe.msg}},
	}
}

// invalidBatch returns the error for a batch some of whose items are
// invalid; details holds one entry per failing item, in order.
func invalidBatch(total int, details []herald.ItemError) *herald.Error {
	first := details[0]
	verb := "are"
	if len(details) == 1 {
		verb = "is"
	}
	return &herald.Error{
		Code: herald.EINVALID,
		Message: fmt.Sprintf("%d of %d events in the batch %s invalid, so none was accepted; the first is event %d: %s",
			len(details), total, verb, first.Index, first.Message),
		Details: details,
	}
}

// requestErr returns an EINVALID error about the request as a whole (its
// content type, its JSON syntax). The message carries all there is to
// know, so no cause is attached: it would repeat the message in logs.
func requestErr(format string, args ...any) *herald.Error {
	return herald.Errorf(herald.EINVALID, format, args...)
}
