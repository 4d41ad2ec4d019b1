// Package render renders Herald's templates: message subjects and bodies,
// recipient addresses, webhook URLs, headers and bodies, and the data of
// emitted events. Templates use Go's text/template syntax (html/template
// for HTML bodies, which escapes by context) and are executed against the
// run's data, normally a map with the keys "event", "run" and "steps":
//
//	Order {{ .event.data.order_id }} is paid: {{ .event.data.total }} {{ .event.data.currency }}
//
// Templates are strict and predictable:
//
//   - Referring to a missing map key is an error that names the template,
//     the line and the field path; use get to read optional fields.
//   - A template never prints "<no value>": a null (nil) value prints as
//     the empty string, a whole number stored as a float (JSON numbers)
//     prints without exponent ("1000000", not "1e+06"), and a map or list
//     prints as JSON.
//   - Ranging over an integer is limited to MaxRange iterations, and the
//     output of one execution to MaxOutput bytes.
//
// Besides text/template's built-ins (and, or, not, eq, ne, lt, le, gt, ge,
// len, index, slice, print, printf, println, html, js, urlquery), these
// functions are available:
//
//	json        marshals a value to JSON text       {{ json .event.data }}
//	get         reads an optional field, nil if absent (never an error);
//	            several keys walk nested maps       {{ get .event.data "customer" "email" }}
//	default     the value unless nil, "" or empty   {{ get .event.data "name" | default "customer" }}
//	upper       upper case                          {{ upper .event.data.status }}
//	lower       lower case                          {{ lower .event.data.status }}
//	trim        strips surrounding white space      {{ trim .event.data.note }}
//	join        joins a list with a separator       {{ join ", " .event.data.tags }}
//	truncate    at most N runes, "…" when cut       {{ truncate 140 .event.data.message }}
//	replace     replaces every OLD with NEW         {{ replace "_" " " .event.data.state }}
//	contains    substring of a string, element of
//	            a list or key of a map              {{ if contains "vip" .event.data.tags }}VIP{{ end }}
//	formatTime  formats a time.Time or an RFC 3339
//	            string with a Go layout             {{ formatTime "2006-01-02 15:04" .event.time }}
//	ackURL      the acknowledgment link of the
//	            message being rendered              {{ ackURL }}
//
// ackURL is a placeholder: it renders "" unless the caller provides its
// implementation for one execution with ExecuteFuncs. Any function of the
// set can be replaced that way; functions not in the set cannot be added,
// because text/template resolves function names when it parses.
package render
