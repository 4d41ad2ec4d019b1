#!/usr/bin/env bash
# The project's test command: formatting, vet, staticcheck and the whole
# test suite with the race detector. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './vendor/*'))
if [ -n "$unformatted" ]; then
	echo "these files need gofmt:"
	echo "$unformatted"
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck $STATICCHECK_VERSION"
go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
"$(go env GOPATH)/bin/staticcheck" ./...

echo "== go test -race"
go test -race -timeout 20m ./...

# The scenario tests of the whole application again, on PostgreSQL (each
# test on a schema of its own); the store conformance suite already ran
# on both backends above.
echo "== go test -race (application on PostgreSQL)"
HERALD_TEST_BACKEND=postgres go test -race -timeout 20m ./internal/app/
