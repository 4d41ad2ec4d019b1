// Package herald holds Herald's domain vocabulary: events, runs, messages,
// attempts and the error codes every layer shares. It imports only the
// standard library (and the UUID package for identifiers), so that every
// other package can depend on it without pulling in HTTP, SQL or providers.
package herald
