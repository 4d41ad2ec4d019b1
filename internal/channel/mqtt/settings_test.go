package mqtt_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/channel/mqtt"
)

func intp(n int) *int { return &n }

func TestFromURL(t *testing.T) {
	tests := []struct {
		url  string
		want mqtt.Settings
	}{
		{"mqtt://broker.example.com/herald/alerts", mqtt.Settings{Broker: "tcp://broker.example.com:1883", Topic: "herald/alerts"}},
		{"MQTT://broker.example.com:1884/a", mqtt.Settings{Broker: "tcp://broker.example.com:1884", Topic: "a"}},
		{"mqtts://broker.example.com/a", mqtt.Settings{Broker: "ssl://broker.example.com:8883", Topic: "a"}},
		{"mqtts://broker.example.com:443/a", mqtt.Settings{Broker: "ssl://broker.example.com:443", Topic: "a"}},
		{"mqtt://herald:s3cr%2Ft%40x@10.0.0.5/a", mqtt.Settings{Broker: "tcp://10.0.0.5:1883", Username: "herald", Password: "s3cr/t@x", Topic: "a"}},
		{"mqtt://user:p@ss@h/a", mqtt.Settings{Broker: "tcp://h:1883", Username: "user", Password: "p@ss", Topic: "a"}},
		{"mqtt://user@h/a", mqtt.Settings{Broker: "tcp://h:1883", Username: "user", Topic: "a"}},
		{"mqtt://[::1]:1883/a", mqtt.Settings{Broker: "tcp://[::1]:1883", Topic: "a"}},
		{"mqtt://[::1]/a", mqtt.Settings{Broker: "tcp://[::1]:1883", Topic: "a"}},
		{"mqtt://h", mqtt.Settings{Broker: "tcp://h:1883"}},
		{"mqtt://h/", mqtt.Settings{Broker: "tcp://h:1883"}},
		{"mqtt://h//leading/slash", mqtt.Settings{Broker: "tcp://h:1883", Topic: "/leading/slash"}},
		{"mqtt://h/a%20b", mqtt.Settings{Broker: "tcp://h:1883", Topic: "a b"}},
		{"mqtt://h/%24aws/things/x/shadow/update", mqtt.Settings{Broker: "tcp://h:1883", Topic: "$aws/things/x/shadow/update"}},
		{"mqtt://h/a?qos=0", mqtt.Settings{Broker: "tcp://h:1883", Topic: "a", QoS: intp(0)}},
		{"mqtt://h/a?qos=2&retain=true", mqtt.Settings{Broker: "tcp://h:1883", Topic: "a", QoS: intp(2), Retain: true}},
		{
			"mqtts://h/a?client_id=node-1&ca_file=/etc/ca.pem&insecure_skip_verify=true&connect_timeout=3s&max_payload=1024",
			mqtt.Settings{Broker: "ssl://h:8883", Topic: "a", ClientID: "node-1", CAFile: "/etc/ca.pem", InsecureSkipVerify: true, ConnectTimeout: 3 * time.Second, MaxPayload: 1024},
		},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			var s mqtt.Settings
			if err := mqtt.FromURL(tt.url, &s); err != nil {
				t.Fatalf("FromURL: %v", err)
			}
			if diff := cmp.Diff(tt.want, s); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestFromURLMalformed(t *testing.T) {
	const pw = "Hunter2Secret"
	tests := []struct {
		url, want string
	}{
		{"broker.example.com/a", "must look like mqtt://"},
		{"mqtt:" + pw + "@h/a", "must look like mqtt://"},
		{"http://u:" + pw + "@h/a", `scheme "http" is not mqtt or mqtts`},
		{"tcp://h/a", `scheme "tcp" is not mqtt or mqtts`},
		{"://h/a", "must look like mqtt://"},
		{"mqtt://", "has no host"},
		{"mqtt:///a", "has no host"},
		{"mqtt://u:" + pw + "@/a", "has no host"},
		{"mqtt://u:" + pw + "@h:/a", "port is not a number"},
		{"mqtt://u:" + pw + "@h:0/a", "port is not a number"},
		{"mqtt://u:" + pw + "@h:65536/a", "port is not a number"},
		{"mqtt://u:" + pw + "@h:+80/a", "port is not a number"},
		{"mqtt://u:" + pw + "@h:x/a", "port is not a number"},
		// An unencoded '/' in the password ends the authority: the error
		// must not quote the pieces.
		{"mqtt://u:Hunter2/Secret@h/a", "port is not a number"},
		{"mqtt://u:Hunter2Secret%zz@h/a", "password in the URL is not validly percent-encoded"},
		{"mqtt://u%zz:" + pw + "@h/a", "user name in the URL is not validly percent-encoded"},
		{"mqtt://:" + pw + "@h/a", "has a password but no user name"},
		{"mqtt://[::1/a", "without its closing ']'"},
		{"mqtt://[h]/a", "not an IPv6 address"},
		{"mqtt://[::1]x/a", "not a port"},
		{"mqtt://::1/a", "not in brackets"},
		{"mqtt://h h/a", "invalid character in the host"},
		{"mqtt://h/a/+/b", "wildcard"},
		{"mqtt://h/a/%2B", "wildcard"},
		{"mqtt://h/a/#", "contains '#'"},
		{"mqtt://h/a/%23", "wildcard"},
		{"mqtt://h/a%00b", "null character"},
		{"mqtt://h/a%ff", "not valid UTF-8"},
		{"mqtt://h/a%zz", "topic in the URL is not validly percent-encoded"},
		{"mqtt://h/a?qos=3", "qos is not 0, 1 or 2"},
		{"mqtt://h/a?qos=one", "qos is not 0, 1 or 2"},
		{"mqtt://h/a?retain=maybe", "retain is not a boolean"},
		// An unencoded '?' in the user name moves the password into the
		// query: neither names nor values there may be quoted.
		{"mqtt://u?:Hunter2Secret@h/a", "an unknown URL parameter"},
		{"mqtt://u?qos=:Hunter2Secret@h/a", "qos is not 0, 1 or 2"},
		{"mqtt://h/a?insecure_skip_verify=2", "insecure_skip_verify"},
		{"mqtt://h/a?connect_timeout=10", "connect_timeout"},
		{"mqtt://h/a?max_payload=-1", "max_payload"},
		{"mqtt://h/a?topic=b", `unknown URL parameter "topic"`},
		{"mqtt://h/a?qos=%zz", "malformed URL query"},
		{"mqtt://h/" + strings.Repeat("x", 65536), "more than MQTT's 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.url[:min(len(tt.url), 60)], func(t *testing.T) {
			var s mqtt.Settings
			err := mqtt.FromURL(tt.url, &s)
			if err == nil {
				t.Fatalf("FromURL(%q) = nil, want an error containing %q", tt.url, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "mqtt: ") {
				t.Errorf("error %q does not say which channel type it is about", err)
			}
			for _, piece := range []string{pw, "Hunter2", "Secret"} {
				if strings.Contains(err.Error(), piece) {
					t.Errorf("error %q quotes the password (%q)", err, piece)
				}
			}
		})
	}
}

func TestFromURLWrongSettings(t *testing.T) {
	var s struct{}
	if err := mqtt.FromURL("mqtt://h/a", &s); err == nil {
		t.Fatal("FromURL into a foreign settings type succeeded")
	}
}

func TestValidate(t *testing.T) {
	ok := func() mqtt.Settings { return mqtt.Settings{Broker: "tcp://h:1883", Topic: "a"} }
	tests := []struct {
		name string
		edit func(*mqtt.Settings)
		want string // "" = valid
	}{
		{"minimal", func(*mqtt.Settings) {}, ""},
		{"no topic", func(s *mqtt.Settings) { s.Topic = "" }, ""},
		{"mqtt scheme", func(s *mqtt.Settings) { s.Broker = "mqtt://h" }, ""},
		{"wss", func(s *mqtt.Settings) { s.Broker = "wss://h/mqtt" }, ""},
		{"qos 0", func(s *mqtt.Settings) { s.QoS = intp(0) }, ""},
		{"no broker", func(s *mqtt.Settings) { s.Broker = " " }, "broker is required"},
		{"bad scheme", func(s *mqtt.Settings) { s.Broker = "http://h" }, "scheme must be tcp, ssl, ws or wss"},
		{"no host", func(s *mqtt.Settings) { s.Broker = "tcp://:1883" }, "no host"},
		{"bad port", func(s *mqtt.Settings) { s.Broker = "tcp://h:99999" }, "port"},
		{"malformed broker", func(s *mqtt.Settings) { s.Broker = "tcp://u:Hunter2Secret@h:x" }, "malformed broker URL"},
		{"qos 3", func(s *mqtt.Settings) { s.QoS = intp(3) }, "qos 3"},
		{"qos -1", func(s *mqtt.Settings) { s.QoS = intp(-1) }, "qos -1"},
		{"wildcard topic", func(s *mqtt.Settings) { s.Topic = "a/#" }, "wildcard"},
		{"password without user", func(s *mqtt.Settings) { s.Password = "Hunter2Secret" }, "username is not"},
		{"negative timeout", func(s *mqtt.Settings) { s.ConnectTimeout = -time.Second }, "connect_timeout"},
		{"negative max payload", func(s *mqtt.Settings) { s.MaxPayload = -1 }, "max_payload"},
		{"bad client id", func(s *mqtt.Settings) { s.ClientID = "\xff" }, "client_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok()
			tt.edit(&s)
			err := s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "Hunter2") {
				t.Errorf("error %q quotes the password", err)
			}
		})
	}
}

func TestCheckTopic(t *testing.T) {
	for _, topic := range []string{"a", "a/b/c", "/a", "a/", "$aws/things/x", "ünïcödé/topic", strings.Repeat("x", 65535)} {
		if err := mqtt.CheckTopic(topic); err != nil {
			t.Errorf("CheckTopic(%.20q) = %v, want nil", topic, err)
		}
	}
	for _, topic := range []string{"", "+", "a/+/b", "#", "a/#", "a+b", "a#", "a\x00b", "\xff", strings.Repeat("x", 65536)} {
		if err := mqtt.CheckTopic(topic); err == nil {
			t.Errorf("CheckTopic(%.20q) = nil, want an error", topic)
		}
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	s := mqtt.Settings{Broker: "tcp://h", Username: "u", Password: channel.Secret("Hunter2Secret")}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := strings.ToLower(fmt.Sprintf(f, s)); strings.Contains(out, "hunter2") {
			t.Errorf("%s of the settings shows the password: %s", f, out)
		}
	}
}

// FuzzFromURL checks that FromURL never panics and never quotes the
// password, whatever the rest of the URL looks like. The password is
// marked so that any echo of it, whole or cut at its start, is found.
func FuzzFromURL(f *testing.F) {
	f.Add("mqtt", "user", "pw", "h:1883/a/b?qos=1&retain=true")
	f.Add("mqtts", "u", "p%zz", "[::1]/a")
	f.Add("mqtt", "", "x/y", "h:x/a")
	f.Add("mqtt", "u", "p", "h/a/#")
	f.Add("MQTT", "u%41", "pa:ss", "h:65536/a%00?qos=%zz")
	f.Add("tcp", "u", "p", "")
	f.Fuzz(func(t *testing.T, scheme, user, pass, rest string) {
		const marker = "QXZMARK"
		pass = marker + pass
		if strings.Contains(scheme+user+rest, marker[:4]) {
			t.Skip()
		}
		raw := scheme + "://" + user + ":" + pass + "@" + rest
		var s mqtt.Settings
		err := mqtt.FromURL(raw, &s)
		if err == nil {
			if err := s.Validate(); err != nil && strings.Contains(err.Error(), marker[:4]) {
				t.Fatalf("Validate error %q quotes the password", err)
			}
			return
		}
		if strings.Contains(err.Error(), marker[:4]) {
			t.Fatalf("FromURL(%q) error %q quotes the password", raw, err)
		}
	})
}
