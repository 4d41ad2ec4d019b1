package cloudevents

import (
	"net/http"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/herald"
)

// DefaultMaxBatch is the batch limit used when Limits.MaxBatch is not set.
const DefaultMaxBatch = 1000

// Limits bounds what one request may carry. The body size limit is applied
// by the HTTP layer before Decode sees the body.
type Limits struct {
	// MaxBatch is the most events one request may carry; zero or less
	// means DefaultMaxBatch. A larger batch is rejected with ETOOLARGE.
	MaxBatch int
}

// maxBatch returns the effective batch limit.
func (l Limits) maxBatch() int {
	if l.MaxBatch <= 0 {
		return DefaultMaxBatch
	}
	return l.MaxBatch
}

// Decode returns the events of one POST /v1/events request, given its
// headers and body. batch reports whether the request was a batch (a JSON
// array), even of one event. The request forms are chosen by Content-Type:
//
//   - application/cloudevents+json: one structured-mode CloudEvent;
//   - application/cloudevents-batch+json: a JSON array of them;
//   - any content type with a ce-specversion header: one binary-mode
//     CloudEvent, whose attributes are in ce- headers and whose data is
//     the body, of the type the Content-Type names;
//   - application/json, or no Content-Type, without ce- headers: Herald's
//     short form, an object such as {"type": "order.paid", "data": {...}}
//     in which only "type" is required (source defaults to "herald:api",
//     id to a new id, time to now), or an array of them.
//
// A batch is accepted whole or not at all. Every error is a *herald.Error:
// EINVALID with a message saying what is wrong and where, and with one
// herald.ItemError per invalid event (Index is its position in the batch,
// Field the attribute at fault); or ETOOLARGE for a batch over the limit.
//
// Each event's Time is in UTC and defaults to now; its ID and ReceivedAt
// are left for the engine to set, and Data is held as described in the
// package documentation. Decode does not retain body.
func Decode(header http.Header, body []byte, limits Limits) (events []herald.Event, batch bool, err error) {
	d := decoder{limits: limits, now: time.Now, newID: herald.NewID}
	return d.decode(header, body)
}

// decoder decodes one request. The clock and the id source are fields so
// that tests can fix them.
type decoder struct {
	limits Limits
	now    func() time.Time
	newID  func() string

	// received is the default event time, read once per request so that
	// the events of one batch share it.
	received time.Time
}

// defaultTime returns the time of events that carry none.
func (d *decoder) defaultTime() time.Time {
	if d.received.IsZero() {
		d.received = d.now().UTC()
	}
	return d.received
}

func (d *decoder) decode(header http.Header, body []byte) ([]herald.Event, bool, error) {
	cts := header.Values("Content-Type")
	if len(cts) > 1 {
		return nil, false, requestErr("the Content-Type header appears %d times; send it once", len(cts))
	}
	var ct, mt string
	var params map[string]string
	if len(cts) == 1 && strings.TrimSpace(cts[0]) != "" {
		ct = cts[0]
		var err error
		if mt, params, err = parseMediaType(ct); err != nil {
			return nil, false, requestErr("invalid Content-Type %s: %v", quoteShort(ct), err)
		}
	}

	switch {
	case mt == mediaStructured:
		if err := checkCharset(params); err != nil {
			return nil, false, requestErr("Content-Type %s: %v", quoteShort(ct), err)
		}
		return d.structured(body)
	case mt == mediaBatch:
		if err := checkCharset(params); err != nil {
			return nil, false, requestErr("Content-Type %s: %v", quoteShort(ct), err)
		}
		return d.batch(body, false)
	case strings.HasPrefix(mt, mediaCEPrefix):
		return nil, false, requestErr("unsupported CloudEvents format %s: Herald accepts %s (one event) and %s (a batch)",
			quoteShort(mt), mediaStructured, mediaBatch)
	}

	hasSpec, anyCE := ceHeaders(header)
	switch {
	case hasSpec:
		return d.binary(header, ct, body)
	case anyCE != "":
		return nil, false, requestErr("found header %s but no ce-specversion: a binary-mode CloudEvent needs the headers ce-specversion, ce-id, ce-source and ce-type",
			quoteShort(anyCE))
	case mt == "" || mt == mediaJSON:
		if err := checkCharset(params); err != nil {
			return nil, false, requestErr("Content-Type %s: %v", quoteShort(ct), err)
		}
		return d.short(body)
	}
	return nil, false, requestErr("unsupported Content-Type %s: send %s (one CloudEvent), %s (a batch), %s (Herald's short form, such as {\"type\": \"order.paid\", \"data\": {...}}), or any content type with ce-specversion, ce-id, ce-source and ce-type headers (a binary-mode CloudEvent)",
		quoteShort(mt), mediaStructured, mediaBatch, mediaJSON)
}

// document checks that body is one JSON value and returns it without
// surrounding space. what names the expected content for an empty body.
func document(body []byte, what string) ([]byte, error) {
	doc := trimSpace(body)
	if len(doc) == 0 {
		return nil, requestErr("the request body is empty; expected %s", what)
	}
	if strings.HasPrefix(string(doc[:min(len(doc), 3)]), "\uFEFF") {
		// encoding/json would report "invalid character 'ï'", which
		// hides what is wrong.
		return nil, requestErr("the body starts with a byte order mark (U+FEFF); send JSON without one (RFC 8259, section 8.1)")
	}
	if err := checkJSON(body, "JSON"); err != nil {
		return nil, requestErr("%v", err)
	}
	return doc, nil
}

// structured decodes a structured-mode CloudEvent.
func (d *decoder) structured(body []byte) ([]herald.Event, bool, error) {
	doc, err := document(body, "a CloudEvent in JSON")
	if err != nil {
		return nil, false, err
	}
	if doc[0] != '{' {
		hint := ""
		if doc[0] == '[' {
			hint = "; send a batch as " + mediaBatch
		}
		return nil, false, requestErr("a structured-mode CloudEvent must be a JSON object, got %s%s", kind(doc), hint)
	}
	e, fe := d.object(doc, false)
	if fe != nil {
		return nil, false, invalid(fe)
	}
	return []herald.Event{e}, false, nil
}

// short decodes Herald's short form: one object or an array of them.
func (d *decoder) short(body []byte) ([]herald.Event, bool, error) {
	doc, err := document(body, `an event in JSON, such as {"type": "order.paid", "data": {...}}`)
	if err != nil {
		return nil, false, err
	}
	switch doc[0] {
	case '{':
		e, fe := d.object(doc, true)
		if fe != nil {
			return nil, false, invalid(fe)
		}
		return []herald.Event{e}, false, nil
	case '[':
		return d.batch(body, true)
	}
	return nil, false, requestErr(`expected a JSON object such as {"type": "order.paid", "data": {...}}, or an array of them, got %s`, kind(doc))
}
