package teams

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

// API versions of the Workflows trigger URL, as Teams generates them: the
// classic Logic Apps form and the Power Automate "direct" form.
const (
	APIVersionWorkflow      = "2016-06-01"
	APIVersionPowerAutomate = "2022-03-01-preview"
)

// Settings configure a Microsoft Teams channel: one Workflows webhook
// ("When a Teams webhook request is received") or a legacy connector URL.
type Settings struct {
	// WebhookURL is the URL Teams gave for the workflow. It carries the
	// workflow's signature (sig=…), so it is a secret.
	WebhookURL channel.Secret `yaml:"webhook_url"`
	// FullWidth asks Teams to draw the card across the whole message
	// pane (msteams.width: full).
	FullWidth bool `yaml:"full_width"`
	// APIURL, when set, replaces the scheme and host of every webhook URL
	// (for a test server, or a proxy in front of Power Automate); path
	// and query stay. Empty means the webhook URL's own host.
	APIURL string `yaml:"api_url"`
}

// Validate reports the first problem with the settings. Its errors never
// contain the webhook URL.
func (s *Settings) Validate() error {
	if s.WebhookURL == "" {
		return errors.New("webhook_url is required")
	}
	if err := checkWebhook(s.WebhookURL.Value()); err != nil {
		return fmt.Errorf("webhook_url: %w", err)
	}
	if s.APIURL != "" {
		if err := netguard.CheckURL(s.APIURL); err != nil {
			return fmt.Errorf("api_url: %w", err)
		}
	}
	return nil
}

// checkWebhook checks a webhook URL without repeating it.
func checkWebhook(raw string) error {
	if err := netguard.CheckURL(raw); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("malformed URL")
	}
	if u.User != nil {
		return errors.New("URL must not carry a user name or password")
	}
	return nil
}

// idRE is Apprise's shape for a workflow id and a signature.
var idRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// FromURL fills settings (a *Settings) from a channel URL, in one of
// three forms:
//
//	workflows://<host>[:<port>]/<workflow id>/<signature>[?pa=yes&ver=<api-version>]
//	teams+https://<webhook URL without the scheme>
//	https://<webhook URL>
//
// The first is Apprise's (https://github.com/caronc/apprise/wiki/Notify_workflows,
// also spelled workflow://): Herald rebuilds the trigger URL
// https://<host>[:<port>][/powerautomate/automations/direct]/workflows/<id>/triggers/manual/paths/invoke?api-version=…&sp=/triggers/manual/run&sv=1.0&sig=<signature>,
// with pa=yes choosing the Power Automate form and its API version. The
// other two take the URL Teams shows as it is, which is the simplest: copy
// and paste. Errors never repeat the workflow id or the signature.
func FromURL(u string, settings any) error {
	s, ok := settings.(*Settings)
	if !ok {
		return fmt.Errorf("teams: settings are %T, want *teams.Settings", settings)
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return errors.New("teams: URL must look like workflows://host/workflow_id/signature or https://<webhook URL>")
	}
	switch strings.ToLower(scheme) {
	case "https", "teams+https":
		raw := "https://" + rest
		if err := checkWebhook(raw); err != nil {
			return fmt.Errorf("teams: webhook URL: %w", err)
		}
		s.WebhookURL = channel.Secret(raw)
		return nil
	case "workflow", "workflows":
		return fromWorkflowsURL(rest, s)
	}
	return fmt.Errorf("teams: URL scheme %q is not workflows, teams+https or https", short(scheme))
}

// fromWorkflowsURL parses the part of an Apprise workflows:// URL after
// the scheme.
func fromWorkflowsURL(rest string, s *Settings) error {
	rest, rawQuery, _ := strings.Cut(rest, "?")
	hostport, path, _ := strings.Cut(rest, "/")
	if hostport == "" {
		return errors.New("teams: workflows:// URL has no host")
	}
	host := hostport
	if h, port, ok := strings.Cut(hostport, ":"); ok {
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("teams: workflows:// URL port %q is invalid", short(port))
		}
		host = h
	}
	if host == "" || strings.ContainsAny(host, "@[]") {
		return errors.New("teams: workflows:// URL host is invalid (want a host name, no user name)")
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errors.New("teams: malformed URL query")
	}
	var workflow, sig string
	if len(segs) > 0 {
		workflow = segs[0]
	}
	if len(segs) > 1 {
		sig = segs[1]
	}
	if len(segs) > 2 {
		return errors.New("teams: workflows:// URL has more than two path segments (want /workflow_id/signature)")
	}
	power, version := false, ""
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "id":
			workflow = v
		case "sig", "signature":
			sig = v
		case "pa", "powerautomate":
			switch strings.ToLower(v) {
			case "yes", "y", "true", "1", "on":
				power = true
			case "no", "n", "false", "0", "off", "":
				power = false
			default:
				return fmt.Errorf("teams: URL parameter %s %q is not yes or no", k, short(v))
			}
		case "ver", "api-version":
			if !idRE.MatchString(v) {
				return fmt.Errorf("teams: URL parameter %s %q is not an API version", k, short(v))
			}
			version = v
		case "full_width":
			s.FullWidth = v == "yes" || v == "true" || v == "1"
		default:
			// Not named: a mangled URL can put the signature in a key.
			return errors.New("teams: unknown URL parameter (known: id, sig, pa, ver, full_width)")
		}
	}
	if workflow == "" {
		return errors.New("teams: workflows:// URL has no workflow id (want workflows://host/workflow_id/signature)")
	}
	if !idRE.MatchString(workflow) {
		return errors.New("teams: the workflow id in the URL has characters other than letters, digits, _ and -")
	}
	if sig == "" {
		return errors.New("teams: workflows:// URL has no signature (want workflows://host/workflow_id/signature)")
	}
	if !idRE.MatchString(sig) {
		return errors.New("teams: the signature in the URL has characters other than letters, digits, _ and -")
	}
	if version == "" {
		version = APIVersionWorkflow
		if power {
			version = APIVersionPowerAutomate
		}
	}
	prefix := ""
	if power {
		prefix = "/powerautomate/automations/direct"
	}
	query := url.Values{"api-version": {version}, "sp": {"/triggers/manual/run"}, "sv": {"1.0"}, "sig": {sig}}
	raw := "https://" + hostport + prefix + "/workflows/" + workflow + "/triggers/manual/paths/invoke?" + query.Encode()
	if err := checkWebhook(raw); err != nil {
		return fmt.Errorf("teams: workflows:// URL: %w", err)
	}
	s.WebhookURL = channel.Secret(raw)
	return nil
}

// short bounds a user-supplied value repeated in an error.
func short(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
