package cloudevents

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/herald-notify/herald/internal/herald"
)

// header builds request headers from name/value pairs.
func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// ce returns the headers of a valid binary-mode event with content type
// ct, changed by the name/value pairs in kv (an empty value deletes).
func ce(ct string, kv ...string) http.Header {
	h := header("Ce-Specversion", "1.0", "Ce-Id", "b-1", "Ce-Source", "/s", "Ce-Type", "a.b")
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			h.Del(kv[i])
			continue
		}
		h.Add(kv[i], kv[i+1])
	}
	return h
}

const (
	structured = "application/cloudevents+json"
	batchCT    = "application/cloudevents-batch+json"
)

// ev returns a valid structured event with extra members appended (which
// must not repeat its four: a repeated name is an error).
func ev(extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return `{"specversion":"1.0","id":"1","source":"/s","type":"a.b"` + extra + `}`
}

// evWithout returns a valid structured event without the named member.
func evWithout(name string, extra string) string {
	members := map[string]string{"specversion": `"specversion":"1.0"`, "id": `"id":"1"`, "source": `"source":"/s"`, "type": `"type":"a.b"`}
	var parts []string
	for _, n := range []string{"specversion", "id", "source", "type"} {
		if n != name {
			parts = append(parts, members[n])
		}
	}
	if extra != "" {
		parts = append(parts, extra)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// one is the error for a request whose single event is invalid.
func one(field, msg string) *herald.Error {
	return &herald.Error{Code: herald.EINVALID, Message: msg, Details: []herald.ItemError{{Index: 0, Field: field, Message: msg}}}
}

// request is the error for a request that is invalid as a whole.
func request(msg string) *herald.Error { return &herald.Error{Code: herald.EINVALID, Message: msg} }

// tooLarge is the error for a batch over its limit.
func tooLarge(msg string) *herald.Error { return &herald.Error{Code: herald.ETOOLARGE, Message: msg} }

// TestDecodeErrors checks the exact error, message and details, for each
// kind of invalid request.
func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header http.Header
		body   string
		limits Limits
		want   *herald.Error
	}{
		{"unsupported content type", header("Content-Type", "text/plain"), "hello", Limits{},
			request(`unsupported Content-Type "text/plain": send application/cloudevents+json (one CloudEvent), application/cloudevents-batch+json (a batch), application/json (Herald's short form, such as {"type": "order.paid", "data": {...}}), or any content type with ce-specversion, ce-id, ce-source and ce-type headers (a binary-mode CloudEvent)`)},
		{"unsupported cloudevents format", header("Content-Type", "application/cloudevents+avro"), "x", Limits{},
			request(`unsupported CloudEvents format "application/cloudevents+avro": Herald accepts application/cloudevents+json (one event) and application/cloudevents-batch+json (a batch)`)},
		{"content type without subtype", header("Content-Type", "json"), "{}", Limits{},
			request(`invalid Content-Type "json": not of the form type/subtype`)},
		{"content type twice", header("Content-Type", "application/json", "Content-Type", "application/json"), "{}", Limits{},
			request("the Content-Type header appears 2 times; send it once")},
		{"content type bad params", header("Content-Type", "application/json; charset"), "{}", Limits{},
			request(`invalid Content-Type "application/json; charset": malformed parameters: mime: invalid media parameter`)},
		{"charset not utf-8", header("Content-Type", structured+"; charset=ISO-8859-1"), ev(""), Limits{},
			request(`Content-Type "application/cloudevents+json; charset=ISO-8859-1": charset "ISO-8859-1" is not supported: JSON must be UTF-8`)},
		{"ce headers without specversion", header("Content-Type", "application/json", "Ce-Type", "a.b", "Ce-Id", "1"), "{}", Limits{},
			request(`found header "ce-id" but no ce-specversion: a binary-mode CloudEvent needs the headers ce-specversion, ce-id, ce-source and ce-type`)},
		{"empty structured body", header("Content-Type", structured), "", Limits{},
			request("the request body is empty; expected a CloudEvent in JSON")},
		{"blank short body", header("Content-Type", "application/json"), " \n ", Limits{},
			request(`the request body is empty; expected an event in JSON, such as {"type": "order.paid", "data": {...}}`)},
		{"empty batch body", header("Content-Type", batchCT), "", Limits{},
			request("the request body is empty; expected a JSON array of CloudEvents")},
		{"malformed JSON", header("Content-Type", structured), `{"specversion":"1.0","id":"1","source":"/s","type":"a.b",}`, Limits{},
			request("malformed JSON at byte offset 58: invalid character '}' looking for beginning of object key string")},
		{"truncated JSON", header("Content-Type", structured), `{"specversion":"1.0","id":"1"`, Limits{},
			request("malformed JSON at byte offset 29: unexpected end of JSON input")},
		{"two JSON values", header("Content-Type", "application/json"), `{"type":"a"} {"type":"b"}`, Limits{},
			request("malformed JSON at byte offset 14: invalid character '{' after top-level value")},
		{"byte order mark", header("Content-Type", "application/json"), "\uFEFF{\"type\":\"a\"}", Limits{},
			request("the body starts with a byte order mark (U+FEFF); send JSON without one (RFC 8259, section 8.1)")},
		{"invalid UTF-8", header("Content-Type", structured), "{\"specversion\":\"1.0\",\"id\":\"\xff\",\"source\":\"/s\",\"type\":\"a.b\"}", Limits{},
			request("malformed JSON at byte offset 27: invalid UTF-8")},
		{"structured array", header("Content-Type", structured), "[" + ev("") + "]", Limits{},
			request("a structured-mode CloudEvent must be a JSON object, got array; send a batch as application/cloudevents-batch+json")},
		{"structured string", header("Content-Type", structured), `"hello"`, Limits{},
			request("a structured-mode CloudEvent must be a JSON object, got string")},
		{"short number", header("Content-Type", "application/json"), `42`, Limits{},
			request(`expected a JSON object such as {"type": "order.paid", "data": {...}}, or an array of them, got number 42`)},
		{"batch object", header("Content-Type", batchCT), ev(""), Limits{},
			request("a batch must be a JSON array of events, got object; send a single event as application/cloudevents+json")},
		{"batch empty", header("Content-Type", batchCT), ` [ ] `, Limits{},
			request("the batch is empty; send at least one event")},
		{"batch too large", header("Content-Type", batchCT), "[" + ev("") + "," + ev("") + "," + ev("") + "]", Limits{MaxBatch: 2},
			tooLarge("the batch holds 3 events, more than the limit of 2 per request; split it")},
		{"short batch too large", header("Content-Type", "application/json"), `[{"type":"a"},{"type":"a"}]`, Limits{MaxBatch: 1},
			tooLarge("the batch holds 2 events, more than the limit of 1 per request; split it")},

		{"missing specversion", header("Content-Type", structured), evWithout("specversion", ""), Limits{},
			one("specversion", `attribute "specversion" is required`)},
		{"old specversion", header("Content-Type", structured), evWithout("specversion", `"specversion":"0.3"`), Limits{},
			one("specversion", `attribute "specversion": unsupported CloudEvents version "0.3"; supported versions: "1.0"`)},
		{"numeric specversion", header("Content-Type", structured), evWithout("specversion", `"specversion":1.0`), Limits{},
			one("specversion", `attribute "specversion": must be a string, got number 1.0`)},
		{"missing id", header("Content-Type", structured), evWithout("id", ""), Limits{},
			one("id", `attribute "id" is required`)},
		{"null id", header("Content-Type", structured), evWithout("id", `"id":null`), Limits{},
			one("id", `attribute "id" is required`)},
		{"empty id", header("Content-Type", structured), evWithout("id", `"id":""`), Limits{},
			one("id", `attribute "id": must be a non-empty string`)},
		{"numeric id", header("Content-Type", structured), evWithout("id", `"id":5`), Limits{},
			one("id", `attribute "id": must be a string, got number 5`)},
		{"missing source", header("Content-Type", structured), evWithout("source", ""), Limits{},
			one("source", `attribute "source" is required`)},
		{"source with space", header("Content-Type", structured), evWithout("source", `"source":"my source"`), Limits{},
			one("source", `attribute "source": must be a URI-reference (RFC 3986), got "my source": character ' ' is not allowed (percent-encode it)`)},
		{"source colon without scheme", header("Content-Type", structured), evWithout("source", `"source":"1-555:123"`), Limits{},
			one("source", `attribute "source": must be a URI-reference (RFC 3986), got "1-555:123": it has a colon before any slash but no valid scheme`)},
		{"source bad percent", header("Content-Type", structured), evWithout("source", `"source":"/a%zz"`), Limits{},
			one("source", `attribute "source": must be a URI-reference (RFC 3986), got "/a%zz": a % is not followed by two hex digits`)},
		{"source non-ASCII", header("Content-Type", structured), evWithout("source", `"source":"/bücher"`), Limits{},
			one("source", `attribute "source": must be a URI-reference (RFC 3986), got "/bücher": character 'ü' is not allowed (percent-encode it)`)},
		{"missing type", header("Content-Type", structured), evWithout("type", ""), Limits{},
			one("type", `attribute "type" is required`)},
		{"type with space", header("Content-Type", structured), evWithout("type", `"type":"order paid"`), Limits{},
			one("type", `attribute "type": must not contain whitespace, got "order paid"`)},
		{"type with control", header("Content-Type", structured), evWithout("type", `"type":"order\u0007paid"`), Limits{},
			one("type", `attribute "type": must not contain control character U+0007`)},
		{"type too long", header("Content-Type", structured), evWithout("type", `"type":"`+strings.Repeat("é", 256)+`"`), Limits{},
			one("type", `attribute "type": must be at most 255 characters, got 256`)},
		{"type array", header("Content-Type", structured), evWithout("type", `"type":["a"]`), Limits{},
			one("type", `attribute "type": must be a string, got array`)},
		{"empty subject", header("Content-Type", structured), ev(`"subject":""`), Limits{},
			one("subject", `attribute "subject": must be a non-empty string`)},
		{"numeric subject", header("Content-Type", structured), ev(`"subject":5`), Limits{},
			one("subject", `attribute "subject": must be a string, got number 5`)},
		{"subject with noncharacter", header("Content-Type", structured), ev(`"subject":"a\uffffb"`), Limits{},
			one("subject", `attribute "subject": must not contain Unicode noncharacter U+FFFF`)},
		{"time yesterday", header("Content-Type", structured), ev(`"time":"yesterday"`), Limits{},
			one("time", `attribute "time": must be an RFC 3339 timestamp, got "yesterday"`)},
		{"time february 30", header("Content-Type", structured), ev(`"time":"2026-02-30T00:00:00Z"`), Limits{},
			one("time", `attribute "time": must be an RFC 3339 timestamp, got "2026-02-30T00:00:00Z"`)},
		{"time with comma fraction", header("Content-Type", structured), ev(`"time":"2026-02-03T00:00:00,5Z"`), Limits{},
			one("time", `attribute "time": must be an RFC 3339 timestamp, got "2026-02-03T00:00:00,5Z"`)},
		{"time number", header("Content-Type", structured), ev(`"time":1712345678`), Limits{},
			one("time", `attribute "time": must be a string, got number 1712345678`)},
		{"datacontenttype no subtype", header("Content-Type", structured), ev(`"datacontenttype":"json"`), Limits{},
			one("datacontenttype", `attribute "datacontenttype": must be a media type (RFC 2046), got "json": not of the form type/subtype`)},
		{"datacontenttype empty", header("Content-Type", structured), ev(`"datacontenttype":""`), Limits{},
			one("datacontenttype", `attribute "datacontenttype": must be a media type (RFC 2046), got "": not of the form type/subtype`)},
		{"dataschema relative", header("Content-Type", structured), ev(`"dataschema":"/schemas/order.json"`), Limits{},
			one("dataschema", `attribute "dataschema": must be an absolute URI (RFC 3986), got "/schemas/order.json": it has no scheme`)},
		{"data and data_base64", header("Content-Type", structured), ev(`"data":{},"data_base64":"e30="`), Limits{},
			one("data_base64", `attributes "data" and "data_base64" are both present; send one of them`)},
		{"spec placeholder base64", header("Content-Type", structured), ev(`"datacontenttype":"application/vnd.apache.thrift.binary","data_base64":"... base64 encoded string ..."`), Limits{},
			one("data_base64", `attribute "data_base64": must be standard base64 (RFC 4648), invalid at byte offset 0`)},
		{"data_base64 number", header("Content-Type", structured), ev(`"data_base64":12`), Limits{},
			one("data_base64", `attribute "data_base64": must be a base64 string, got number 12`)},
		{"data_base64 not JSON", header("Content-Type", structured), ev(`"datacontenttype":"application/json","data_base64":"bm90IGpzb24="`), Limits{},
			one("data_base64", `attribute "data_base64": datacontenttype "application/json" declares JSON, but the decoded data is malformed JSON at byte offset 2: invalid character 'o' in literal null (expecting 'u')`)},
		{"data_base64 text not UTF-8", header("Content-Type", structured), ev(`"datacontenttype":"text/plain","data_base64":"/w=="`), Limits{},
			one("data_base64", `attribute "data_base64": datacontenttype "text/plain" declares text, but the decoded data is not valid UTF-8 (byte offset 0); send binary data as application/octet-stream`)},
		{"data object for xml", header("Content-Type", structured), ev(`"datacontenttype":"application/xml","data":{"a":1}`), Limits{},
			one("data", `attribute "data": must be a string because datacontenttype "application/xml" is not JSON, got object`)},
		{"extension upper case", header("Content-Type", structured), ev(`"Tenant":"acme"`), Limits{},
			one("Tenant", `attribute "Tenant": not a valid attribute name: names are 1 to 20 lower-case letters (a-z) or digits (0-9)`)},
		{"extension too long", header("Content-Type", structured), ev(`"abcdefghijklmnopqrstu":"x"`), Limits{},
			one("abcdefghijklmnopqrstu", `attribute "abcdefghijklmnopqrstu": not a valid attribute name: names are 1 to 20 lower-case letters (a-z) or digits (0-9)`)},
		{"extension underscore", header("Content-Type", structured), ev(`"trace_id":"x"`), Limits{},
			one("trace_id", `attribute "trace_id": not a valid attribute name: names are 1 to 20 lower-case letters (a-z) or digits (0-9)`)},
		{"extension object", header("Content-Type", structured), ev(`"payload":{"a":1}`), Limits{},
			one("payload", `attribute "payload": extension attributes must be a string, an integer or a boolean, got object (event data belongs in "data")`)},
		{"extension array", header("Content-Type", structured), ev(`"tags":["a"]`), Limits{},
			one("tags", `attribute "tags": extension attributes must be a string, an integer or a boolean, got array (event data belongs in "data")`)},
		{"extension fraction", header("Content-Type", structured), ev(`"priority":1.5`), Limits{},
			one("priority", `attribute "priority": must be an integer from -2147483648 to 2147483647 (the CloudEvents Integer type), got number 1.5`)},
		{"extension out of range", header("Content-Type", structured), ev(`"priority":2147483648`), Limits{},
			one("priority", `attribute "priority": must be an integer from -2147483648 to 2147483647 (the CloudEvents Integer type), got number 2147483648`)},
		{"extension exponent", header("Content-Type", structured), ev(`"priority":1e3`), Limits{},
			one("priority", `attribute "priority": must be an integer from -2147483648 to 2147483647 (the CloudEvents Integer type), got number 1e3`)},
		{"extension control character", header("Content-Type", structured), ev(`"note":"a\u0001b"`), Limits{},
			one("note", `attribute "note": must not contain control character U+0001`)},
		{"extension unpaired surrogate", header("Content-Type", structured), ev(`"note":"\ud800"`), Limits{},
			one("note", `attribute "note": contains an unpaired UTF-16 surrogate escape`)},
		{"repeated id", header("Content-Type", structured), ev(`"id":"2"`), Limits{},
			one("id", `attribute "id" appears more than once`)},
		{"repeated id escaped", header("Content-Type", structured), ev(`"\u0069d":"2"`), Limits{},
			one("id", `attribute "id" appears more than once`)},
		{"repeated extension", header("Content-Type", structured), ev(`"x":null,"x":1`), Limits{},
			one("x", `attribute "x" appears more than once`)},
		{"name unpaired surrogate", header("Content-Type", structured), ev(`"\udc00":1`), Limits{},
			one("\\udc00", `attribute "\\udc00": not a valid attribute name: names are 1 to 20 lower-case letters (a-z) or digits (0-9)`)},
		{"short data and data_base64", header("Content-Type", "application/json"), `{"type":"a","data_base64":"e30=","data":{}}`, Limits{},
			one("data_base64", `attributes "data" and "data_base64" are both present; send one of them`)},

		{"batch with invalid items", header("Content-Type", batchCT), "[" + ev("") + "," + evWithout("id", "") + `,"event",` + ev(`"time":"now"`) + "]", Limits{},
			&herald.Error{Code: herald.EINVALID, Message: `3 of 4 events in the batch are invalid, so none was accepted; the first is event 1: attribute "id" is required`, Details: []herald.ItemError{
				{Index: 1, Field: "id", Message: `attribute "id" is required`},
				{Index: 2, Field: "", Message: "an event must be a JSON object, got string"},
				{Index: 3, Field: "time", Message: `attribute "time": must be an RFC 3339 timestamp, got "now"`},
			}}},
		{"short batch with invalid item", header("Content-Type", "application/json"), `[{"type":"a.b"},{"data":{}}]`, Limits{},
			&herald.Error{Code: herald.EINVALID, Message: `1 of 2 events in the batch is invalid, so none was accepted; the first is event 1: attribute "type" is required`, Details: []herald.ItemError{
				{Index: 1, Field: "type", Message: `attribute "type" is required`},
			}}},
		{"short missing type", header("Content-Type", "application/json"), `{"data":{"order":1}}`, Limits{},
			one("type", `attribute "type" is required`)},
		{"short payload object", header("Content-Type", "application/json"), `{"type":"a.b","payload":{"order":1}}`, Limits{},
			one("payload", `attribute "payload": extension attributes must be a string, an integer or a boolean, got object (event data belongs in "data")`)},
		{"short specversion", header("Content-Type", "application/json"), `{"type":"a.b","specversion":"2.0"}`, Limits{},
			one("specversion", `attribute "specversion": unsupported CloudEvents version "2.0"; supported versions: "1.0"`)},

		{"binary missing id", ce("application/json", "Ce-Id", ""), "{}", Limits{},
			one("id", `header "ce-id" is required`)},
		{"binary old specversion", ce("application/json", "Ce-Specversion", "", "Ce-Specversion", "0.3"), "{}", Limits{},
			one("specversion", `header "ce-specversion": unsupported CloudEvents version "0.3"; supported versions: "1.0"`)},
		{"binary bad time", ce("application/json", "Ce-Time", "yesterday"), "{}", Limits{},
			one("time", `header "ce-time": must be an RFC 3339 timestamp, got "yesterday"`)},
		{"binary datacontenttype header", ce("application/json", "Ce-Datacontenttype", "application/json"), "{}", Limits{},
			one("datacontenttype", `header "ce-datacontenttype": must not be sent in binary mode: the Content-Type header gives the data's content type`)},
		{"binary data header", ce("application/json", "Ce-Data", "x"), "{}", Limits{},
			one("data", `header "ce-data": "data" is reserved and cannot be an attribute; the body is the data`)},
		{"binary bad name", ce("application/json", "Ce-Trace-Id", "x"), "{}", Limits{},
			one("trace-id", `header "ce-trace-id": not a valid attribute name: names are 1 to 20 lower-case letters (a-z) or digits (0-9)`)},
		{"binary bad percent", ce("application/json", "Ce-Subject", "a%zz"), "{}", Limits{},
			one("subject", `header "ce-subject": has an invalid percent-encoding at byte offset 1: % must be followed by two hex digits`)},
		{"binary overlong UTF-8", ce("application/json", "Ce-Subject", "a%C0%A0b"), "{}", Limits{},
			one("subject", `header "ce-subject": percent-decodes to bytes that are not valid UTF-8`)},
		{"binary unterminated quote", ce("application/json", "Ce-Subject", `"abc`), "{}", Limits{},
			one("subject", `header "ce-subject": has an unterminated quoted string`)},
		{"binary repeated header", ce("application/json", "Ce-Id", "b-2"), "{}", Limits{},
			one("id", `header "ce-id" appears 2 times; send it once`)},
		{"binary malformed JSON body", ce("application/json"), `{"a":1,}`, Limits{},
			one("data", `Content-Type "application/json" declares JSON, but the body is malformed JSON at byte offset 8: invalid character '}' looking for beginning of object key string`)},
		{"binary text not UTF-8", ce("text/plain"), "caf\xe9", Limits{},
			one("data", `Content-Type "text/plain" declares text, but the body is not valid UTF-8 (byte offset 3); send binary data as application/octet-stream`)},
		{"binary bad content type", ce("text"), "x", Limits{},
			request(`invalid Content-Type "text": not of the form type/subtype`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, _, err := testDecoder(tt.limits).decode(tt.header, []byte(tt.body))
			if events != nil {
				t.Errorf("Decode returned %d events with its error", len(events))
			}
			var got *herald.Error
			if !errors.As(err, &got) {
				t.Fatalf("Decode error = %v (%T), want a *herald.Error", err, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode error (-want +got):\n%s", diff)
			}
		})
	}
}
