// Package cloudevents turns the body and headers of a POST /v1/events
// request into Herald events, strictly, and renders events back as
// structured-mode CloudEvents (JSON).
//
// Four request forms are accepted (see Decode): a structured-mode
// CloudEvent (application/cloudevents+json), a binary-mode CloudEvent (ce-
// headers plus the data as the body), a JSON batch
// (application/cloudevents-batch+json), and Herald's short form
// (application/json: only "type" is required). Every rejection is a
// *herald.Error with code herald.EINVALID (or herald.ETOOLARGE for a batch
// over its limit) whose message names the attribute and what was expected,
// and whose details list every failing item of a batch.
//
// # How data is held
//
// herald.Event.Data is always JSON, because rules, templates and the store
// work on JSON. JSON data is kept as the client wrote it (member order,
// number literals, escapes), minus insignificant space. What the JSON
// means depends on the event's datacontenttype:
//
//   - absent, or a JSON media type (*/json, */*+json): Data is the JSON
//     value itself. A data_base64 member must then decode to valid JSON,
//     which is kept as JSON; anything else is rejected, since storing it as
//     a string would silently change what the event says.
//   - a textual media type (text/*, XML, YAML, form-urlencoded): Data is a
//     JSON string holding the text. It must be valid UTF-8.
//   - any other media type (application/octet-stream, images, Thrift,
//     protobuf, ...): Data is a JSON string holding the bytes in standard,
//     padded base64.
//
// Data given as bytes (a data_base64 member, or a binary-mode body)
// without a content type is kept as JSON if it is valid JSON; otherwise
// the event gets datacontenttype "application/octet-stream", the media
// type of unknown bytes, so that it keeps saying what its data is.
//
// Encode reverses the mapping (textual data as a "data" string, other
// non-JSON data as "data_base64"), so an event survives Decode, Encode,
// Decode unchanged.
package cloudevents
