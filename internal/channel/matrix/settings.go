package matrix

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
	"github.com/herald-notify/herald/internal/netguard"
)

// Message types Herald sends.
const (
	// MsgTypeText is an ordinary message (m.text).
	MsgTypeText = "m.text"
	// MsgTypeNotice is a notice (m.notice): clients show it as coming from
	// a bot, and bots are expected not to answer it.
	MsgTypeNotice = "m.notice"
)

// Settings configure a Matrix channel: one account (by its access token)
// on one homeserver, and a default room.
type Settings struct {
	// Homeserver is the base URL of the homeserver's client-server API,
	// e.g. https://matrix.example.org (required).
	Homeserver string `yaml:"homeserver"`
	// AccessToken authenticates the account that posts (required). Herald
	// does not log in with a password.
	AccessToken channel.Secret `yaml:"access_token"`
	// Room is the default room: a room id (!opaque:server) or an alias
	// (#name:server), which is resolved once and cached. A message's To
	// overrides it.
	Room string `yaml:"room"`
	// MsgType is m.text (default) or m.notice; "text" and "notice" are
	// accepted too.
	MsgType string `yaml:"msgtype"`
	// Update edits the newest earlier message with the same correlation
	// key (an m.replace event) instead of posting a new one.
	Update bool `yaml:"update"`
	// APIURL, when set, is used instead of Homeserver for every request
	// (a test server, or a proxy in front of the homeserver).
	APIURL string `yaml:"api_url"`
}

// roomRE accepts a room id (!…:server) or alias (#…:server); the server
// part is a host name with an optional port.
var roomRE = regexp.MustCompile(`^[!#][^:/\s]+:[A-Za-z0-9.\-\[\]]+(:[0-9]{1,5})?$`)

// Validate reports the first problem with the settings. Its errors never
// contain the access token.
func (s *Settings) Validate() error {
	if s.Homeserver == "" {
		return errors.New("homeserver is required")
	}
	if err := netguard.CheckURL(s.Homeserver); err != nil {
		return fmt.Errorf("homeserver: %w", err)
	}
	if s.AccessToken == "" {
		return errors.New("access_token is required")
	}
	if strings.ContainsAny(s.AccessToken.Value(), " \t\r\n") {
		return errors.New("access_token contains white space")
	}
	if s.Room != "" && !roomRE.MatchString(s.Room) {
		return fmt.Errorf("room %q is not a room id (!id:server) or alias (#name:server)", s.Room)
	}
	if _, err := normMsgType(s.MsgType); err != nil {
		return err
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
	}
	return nil
}

func normMsgType(t string) (string, error) {
	switch strings.ToLower(t) {
	case "", "text", MsgTypeText:
		return MsgTypeText, nil
	case "notice", MsgTypeNotice:
		return MsgTypeNotice, nil
	}
	return "", fmt.Errorf("msgtype %q is not m.text or m.notice", short(t))
}

// FromURL fills settings (a *Settings) from an Apprise Matrix URL with an
// access token (https://github.com/caronc/apprise/wiki/Notify_matrix):
//
//	matrixs://<token>@<host>[:<port>]/<room>     (Apprise's token form)
//	matrixs://:<token>@<host>[:<port>]/<room>
//	matrixs://<host>[:<port>]/<room>?token=<token>
//
// matrixs means https, matrix http. <room> is !id:server, #alias:server,
// or a bare alias name, which becomes #name:<host> as in Apprise (the
// "#" may be written %23). Only the first room is used. Query parameters:
// token, msgtype (text or notice), update (yes/no), to (the room). Apprise's
// user:password login is not supported: Herald needs an access token.
// Errors never repeat the token.
func FromURL(u string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("matrix: settings are %T, want *matrix.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return errors.New("matrix: URL must look like matrixs://<token>@<host>/<room>")
	}
	var httpScheme string
	switch strings.ToLower(scheme) {
	case "matrix":
		httpScheme = "http"
	case "matrixs":
		httpScheme = "https"
	default:
		return fmt.Errorf("matrix: URL scheme %q is not matrix or matrixs", short(scheme))
	}
	// The room may start with "#", so the URL is cut by hand rather than
	// by url.Parse, which would take it for a fragment.
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	var token string
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		user, pass, hasPass := strings.Cut(authority[:at], ":")
		authority = authority[at+1:]
		switch {
		case hasPass && user != "" && pass != "":
			return errors.New("matrix: user:password login is not supported; give an access token (matrixs://<token>@host or ?token=)")
		case hasPass:
			token = pass
		default:
			token = user
		}
		t, err := url.PathUnescape(token)
		if err != nil {
			return errors.New("matrix: the access token in the URL has a malformed %-escape")
		}
		token = t
	}
	host := authority
	if h, port, ok := cutPort(authority); ok {
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("matrix: URL port %q is invalid", short(port))
		}
		host = h
	}
	if host == "" || strings.ContainsAny(host, " /\\%") {
		return errors.New("matrix: URL has no valid host")
	}
	var rooms []string
	for i, seg := range strings.Split(path, "/") {
		r, err := url.PathUnescape(seg)
		if err != nil {
			return fmt.Errorf("matrix: URL path segment %d has a malformed %%-escape", i+1)
		}
		if r != "" {
			rooms = append(rooms, r)
		}
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errors.New("matrix: malformed URL query")
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "token":
			token = v
		case "msgtype":
			t, err := normMsgType(v)
			if err != nil {
				return fmt.Errorf("matrix: URL parameter msgtype %q is not text or notice", short(v))
			}
			s.MsgType = t
		case "update":
			switch strings.ToLower(v) {
			case "yes", "y", "true", "1", "on":
				s.Update = true
			case "no", "n", "false", "0", "off", "":
				s.Update = false
			default:
				return fmt.Errorf("matrix: URL parameter update %q is not yes or no", short(v))
			}
		case "to":
			for r := range strings.SplitSeq(v, ",") {
				if r = strings.TrimSpace(r); r != "" {
					rooms = append(rooms, r)
				}
			}
		default:
			// Not named: a mangled URL can put the token in a key.
			return errors.New("matrix: unknown URL parameter (known: token, msgtype, update, to)")
		}
	}
	if token == "" {
		return errors.New("matrix: URL has no access token (want matrixs://<token>@host/<room> or ?token=)")
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return errors.New("matrix: the access token in the URL contains white space")
	}
	s.AccessToken = channel.Secret(token)
	s.Homeserver = httpScheme + "://" + authority
	if err := netguard.CheckURL(s.Homeserver); err != nil {
		return fmt.Errorf("matrix: URL host: %w", err)
	}
	if len(rooms) > 0 {
		room := rooms[0]
		if room[0] != '!' && room[0] != '#' {
			room = "#" + room
		}
		if !strings.Contains(room, ":") {
			room += ":" + host
		}
		if !roomRE.MatchString(room) {
			return fmt.Errorf("matrix: room %q in the URL is not a room id (!id:server) or alias (#name:server)", short(room))
		}
		s.Room = room
	}
	return nil
}

// cutPort splits host:port, leaving a bracketed IPv6 address whole.
func cutPort(hostport string) (host, port string, ok bool) {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 || strings.LastIndexByte(hostport, ']') > i {
		return hostport, "", false
	}
	return hostport[:i], hostport[i+1:], true
}

// short bounds a user-supplied value repeated in an error.
func short(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
