package mqtt

import (
	"errors"
	"fmt"
	"github.com/herald-notify/herald/internal/channel/chanurl"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-notify/herald/internal/channel"
)

// Defaults applied by New when a setting is left empty.
const (
	DefaultQoS            = 1
	DefaultPort           = 1883
	DefaultTLSPort        = 8883
	DefaultConnectTimeout = 10 * time.Second
	// ClientIDPrefix starts the generated client id; a random suffix keeps
	// two Herald nodes from taking over each other's session.
	ClientIDPrefix = "herald-"
)

// MaxTopicLength is the longest topic name MQTT can carry: its length is
// a 16-bit prefix (MQTT 3.1.1 section 1.5.3).
const MaxTopicLength = 65535

// maxRemainingLength is the largest MQTT packet body (MQTT 3.1.1 section
// 2.2.3); the payload must fit in it with the topic and packet id.
const maxRemainingLength = 268435455

// Settings configure an MQTT channel.
type Settings struct {
	// Broker is the broker's address as paho takes it: tcp://host:1883,
	// ssl://host:8883, ws://host/mqtt or wss://host/mqtt. mqtt:// and
	// mqtts:// are accepted and mean tcp:// and ssl://. Required.
	Broker string `yaml:"broker"`
	// ClientID identifies this connection to the broker. A broker allows
	// one connection per client id and closes the older one, so every
	// Herald node needs its own: leave it empty to get "herald-" and a
	// random suffix, which is unique per process.
	ClientID string `yaml:"client_id"`
	// Username and Password authenticate when Username is set.
	Username string         `yaml:"username"`
	Password channel.Secret `yaml:"password"`
	// Topic is where messages go when a message has no recipient (To).
	Topic string `yaml:"topic"`
	// QoS is 0 (at most once), 1 (at least once, the default) or 2
	// (exactly once between Herald and the broker). A pointer because 0
	// is a valid choice, not "unset".
	QoS *int `yaml:"qos"`
	// Retain asks the broker to keep the last message of the topic for
	// subscribers that arrive later.
	Retain bool `yaml:"retain"`
	// CAFile is a PEM file of certificates to trust instead of the
	// system's roots (ssl:// and wss:// brokers).
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify accepts any broker certificate. For tests and
	// self-signed brokers only; prefer CAFile.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ConnectTimeout bounds one connection attempt (default 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// MaxPayload is the broker's message size limit in bytes (Mosquitto's
	// message_size_limit); 0 means only the protocol's limit (256 MiB).
	// A larger payload fails permanently instead of being sent: an
	// MQTT 3.1.1 broker answers an oversized message by dropping it or
	// the connection, which Herald could not tell from a network fault.
	MaxPayload int `yaml:"max_payload"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the password.
func (s *Settings) Validate() error {
	if strings.TrimSpace(s.Broker) == "" {
		return errors.New("broker is required (tcp://host:1883, ssl://host:8883, ws:// or wss://)")
	}
	if _, err := brokerURL(s.Broker); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if len(s.ClientID) > MaxTopicLength || !utf8.ValidString(s.ClientID) {
		return errors.New("client_id must be valid UTF-8 of at most 65535 bytes")
	}
	if s.Password != "" && s.Username == "" {
		return errors.New("password is set but username is not")
	}
	if s.Topic != "" {
		if err := CheckTopic(s.Topic); err != nil {
			return fmt.Errorf("topic: %w", err)
		}
	}
	if s.QoS != nil && (*s.QoS < 0 || *s.QoS > 2) {
		return fmt.Errorf("qos %d is not 0, 1 or 2", *s.QoS)
	}
	if s.ConnectTimeout < 0 {
		return errors.New("connect_timeout must not be negative")
	}
	if s.MaxPayload < 0 {
		return errors.New("max_payload must not be negative")
	}
	return nil
}

// qos returns the QoS with its default.
func (s *Settings) qos() byte {
	if s.QoS == nil {
		return DefaultQoS
	}
	return byte(*s.QoS)
}

// brokerURL parses a broker address and maps mqtt:// and mqtts:// to the
// schemes paho dials. Its errors never quote the address, which may carry
// a password.
func brokerURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("malformed broker URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "tcp", "mqtt":
		u.Scheme = "tcp"
	case "ssl", "tls", "mqtts":
		u.Scheme = "ssl"
	case "ws", "wss":
		u.Scheme = strings.ToLower(u.Scheme)
	default:
		return nil, errors.New("broker URL scheme must be tcp, ssl, ws or wss (or mqtt, mqtts)")
	}
	if u.Hostname() == "" {
		return nil, errors.New("broker URL has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("broker URL port is not a number from 1 to 65535")
		}
	}
	return u, nil
}

// CheckTopic reports why topic cannot be a publish topic: empty, longer
// than 65535 bytes, not UTF-8, holding U+0000, or holding a wildcard (+
// or #), which only subscriptions may use (MQTT 3.1.1 section 4.7).
func CheckTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("topic is empty")
	case len(topic) > MaxTopicLength:
		return fmt.Errorf("topic is %d bytes long, more than MQTT's %d", len(topic), MaxTopicLength)
	case !utf8.ValidString(topic):
		return errors.New("topic is not valid UTF-8")
	case strings.ContainsRune(topic, 0):
		return errors.New("topic contains the null character")
	case strings.ContainsAny(topic, "+#"):
		return errors.New("topic contains a wildcard (+ or #); a message is published to one topic, wildcards are for subscriptions")
	}
	return nil
}

// urlShape is how an MQTT channel URL looks, quoted by FromURL's errors.
const urlShape = "mqtt://[user:password@]host[:port]/topic or mqtts://…"

// FromURL fills settings (a *Settings) from a channel URL:
//
//	mqtt://[user:password@]host[:port]/topic?qos=1&retain=true
//	mqtts://[user:password@]host[:port]/topic
//
// mqtt means a plain TCP connection (default port 1883), mqtts TLS
// (default port 8883). The topic is the percent-decoded path after the
// first slash and may itself contain slashes ("mqtt://h/herald/alerts"
// publishes to "herald/alerts"). The user name and password are
// percent-decoded; a password holding '/', '?' or '#' must encode them.
// Query parameters: qos, retain, client_id, ca_file, insecure_skip_verify,
// connect_timeout and max_payload; any other is an error. The errors
// never quote the user information, so a password cannot leak through a
// configuration error.
func FromURL(raw string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("mqtt: settings are %T, want *mqtt.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return errors.New("mqtt: URL must look like " + urlShape)
	}
	var tlsOn bool
	switch strings.ToLower(scheme) {
	case "mqtt":
	case "mqtts":
		tlsOn = true
	default:
		if chanurl.ValidScheme(scheme) {
			return fmt.Errorf("mqtt: URL scheme %q is not mqtt or mqtts", scheme)
		}
		return errors.New("mqtt: URL must look like " + urlShape)
	}
	// The user information is split off by hand, before anything else is
	// parsed, so that no parse error can quote the password.
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		user, pass, hasPass := strings.Cut(authority[:i], ":")
		authority = authority[i+1:]
		u, err := url.PathUnescape(user)
		if err != nil {
			return errors.New("mqtt: the user name in the URL is not validly percent-encoded")
		}
		if u == "" {
			return errors.New("mqtt: the URL has a password but no user name")
		}
		s.Username = u
		if hasPass {
			p, err := url.PathUnescape(pass)
			if err != nil {
				return errors.New("mqtt: the password in the URL is not validly percent-encoded")
			}
			s.Password = channel.Secret(p)
		}
	}
	host, port, err := chanurl.SplitHostPort(authority, 1883, "")
	if err != nil {
		return fmt.Errorf("mqtt: URL %w", err)
	}
	if port == 0 {
		port = DefaultPort
		if tlsOn {
			port = DefaultTLSPort
		}
	}
	if strings.IndexByte(tail, '#') >= 0 {
		return errors.New("mqtt: the URL contains '#': a message is published to one topic, the wildcard # is for subscriptions (write %23 for a literal #)")
	}
	path, query, _ := strings.Cut(tail, "?")
	if path != "" {
		topic, err := url.PathUnescape(path[1:])
		if err != nil {
			return errors.New("mqtt: the topic in the URL is not validly percent-encoded")
		}
		if topic != "" {
			if err := CheckTopic(topic); err != nil {
				return fmt.Errorf("mqtt: URL: %w", err)
			}
			s.Topic = topic
		}
	}
	if tlsOn {
		s.Broker = "ssl://" + net.JoinHostPort(host, strconv.Itoa(port))
	} else {
		s.Broker = "tcp://" + net.JoinHostPort(host, strconv.Itoa(port))
	}
	return s.query(query)
}

// query applies the URL's query parameters. Its errors quote no values
// and only parameter names that look like names: a user name holding an
// unencoded '?' moves the password into the query.
func (s *Settings) query(raw string) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return errors.New("mqtt: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "qos":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 2 {
				return errors.New("mqtt: URL parameter qos is not 0, 1 or 2")
			}
			s.QoS = &n
		case "retain":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("mqtt: URL parameter retain is not a boolean (true or false)")
			}
			s.Retain = b
		case "insecure_skip_verify":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("mqtt: URL parameter insecure_skip_verify is not a boolean (true or false)")
			}
			s.InsecureSkipVerify = b
		case "client_id":
			s.ClientID = v
		case "ca_file":
			s.CAFile = v
		case "connect_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return errors.New("mqtt: URL parameter connect_timeout is not a duration such as 10s")
			}
			s.ConnectTimeout = d
		case "max_payload":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errors.New("mqtt: URL parameter max_payload is not a byte count")
			}
			s.MaxPayload = n
		default:
			name := "an unknown URL parameter"
			if chanurl.SimpleName(k) {
				name = fmt.Sprintf("unknown URL parameter %q", k)
			}
			return fmt.Errorf("mqtt: %s (known: qos, retain, client_id, ca_file, insecure_skip_verify, connect_timeout, max_payload)", name)
		}
	}
	return nil
}
