// Package testenv lets tests find the services this machine runs
// (PostgreSQL, NATS, Mosquitto, ...). A test that needs one calls Service:
// when the service is absent the test is skipped, unless the environment
// sets HERALD_REQUIRE_SERVICES (as .ci/run does), in which case it fails,
// so CI never passes by skipping.
package testenv

import (
	"net"
	"os"
	"testing"
	"time"
)

// RequireEnv is the variable that turns a missing service into a failure.
const RequireEnv = "HERALD_REQUIRE_SERVICES"

// Default addresses of the services on a development machine; each can be
// overridden by the environment variable named in Service's env argument.
const (
	PostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	NATSAddr    = "127.0.0.1:4222"
	MQTTAddr    = "127.0.0.1:1883"
)

// Service returns the address of a service (the value of env if set,
// otherwise def) after checking that something listens at hostport. It
// skips or fails t when nothing does.
func Service(t testing.TB, name, env, def, hostport string) string {
	t.Helper()
	addr := def
	if v := os.Getenv(env); v != "" {
		addr = v
	}
	c, err := net.DialTimeout("tcp", hostport, 2*time.Second)
	if err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("%s is required (%s is set) but not reachable at %s: %v", name, RequireEnv, hostport, err)
		}
		t.Skipf("%s not reachable at %s (%v); set %s to make this a failure", name, hostport, err, RequireEnv)
	}
	c.Close()
	return addr
}

// Postgres returns the URL of the PostgreSQL test database
// (HERALD_TEST_POSTGRES or postgres://postgres@127.0.0.1:5432/test).
func Postgres(t testing.TB) string {
	t.Helper()
	u := os.Getenv("HERALD_TEST_POSTGRES")
	if u == "" {
		u = PostgresURL
	}
	return Service(t, "PostgreSQL", "HERALD_TEST_POSTGRES", PostgresURL, "127.0.0.1:5432")
}

// NATS returns the NATS server address (HERALD_TEST_NATS or 127.0.0.1:4222).
func NATS(t testing.TB) string {
	t.Helper()
	a := os.Getenv("HERALD_TEST_NATS")
	if a == "" {
		a = NATSAddr
	}
	return Service(t, "NATS", "HERALD_TEST_NATS", NATSAddr, a)
}

// MQTT returns the MQTT broker address (HERALD_TEST_MQTT or 127.0.0.1:1883).
func MQTT(t testing.TB) string {
	t.Helper()
	a := os.Getenv("HERALD_TEST_MQTT")
	if a == "" {
		a = MQTTAddr
	}
	return Service(t, "Mosquitto", "HERALD_TEST_MQTT", MQTTAddr, a)
}
