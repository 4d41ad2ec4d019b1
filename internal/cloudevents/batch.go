package cloudevents

import (
	"fmt"

	"github.com/herald-notify/herald/internal/herald"
)

// batch decodes a JSON array of events, structured-mode CloudEvents or (if
// short) events in Herald's short form. It is all or nothing: if any item
// is invalid, the error lists every invalid item and no event is returned.
func (d *decoder) batch(body []byte, short bool) ([]herald.Event, bool, error) {
	doc, err := document(body, "a JSON array of CloudEvents")
	if err != nil {
		return nil, true, err
	}
	if doc[0] != '[' {
		hint := ""
		if doc[0] == '{' {
			hint = "; send a single event as " + mediaStructured
		}
		return nil, true, requestErr("a batch must be a JSON array of events, got %s%s", kind(doc), hint)
	}
	n := countElements(doc)
	if n == 0 {
		return nil, true, requestErr("the batch is empty; send at least one event")
	}
	if limit := d.limits.maxBatch(); n > limit {
		return nil, true, herald.Errorf(herald.ETOOLARGE, "the batch holds %d events, more than the limit of %d per request; split it", n, limit)
	}

	events := make([]herald.Event, 0, n)
	var details []herald.ItemError
	forEachElement(doc, func(i int, elem []byte) bool {
		if elem[0] != '{' {
			msg := fmt.Sprintf("an event must be a JSON object, got %s", kind(elem))
			details = append(details, herald.ItemError{Index: i, Message: msg})
			return true
		}
		e, fe := d.object(elem, short)
		if fe != nil {
			details = append(details, herald.ItemError{Index: i, Field: fe.field, Message: fe.msg})
			return true
		}
		if details == nil {
			events = append(events, e)
		}
		return true
	})
	if details != nil {
		return nil, true, invalidBatch(n, details)
	}
	return events, true, nil
}
