// Package rule decides which rules an event triggers: event type patterns
// ("order.*", "monitor.**") and conditions written in the expr language
// ("event.data.total > 100"). It is pure: no I/O, no clocks, no state, so
// every function is safe for concurrent use and cheap to fuzz.
package rule
