package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-notify/herald/internal/channel"
)

// The provider types the tests load configurations with: shaped like the
// real ones, but defined here so the loader's tests depend on no provider.

type webhookSettings struct {
	URL    string         `yaml:"url"`
	Secret channel.Secret `yaml:"secret"`
}

func (s *webhookSettings) Validate() error {
	if s.URL != "" && !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://") {
		return errors.New("url must start with http:// or https://")
	}
	return nil
}

type emailSettings struct {
	Host     string         `yaml:"host"`
	Port     int            `yaml:"port"`
	Username string         `yaml:"username"`
	Password channel.Secret `yaml:"password"`
	From     string         `yaml:"from"`
}

func (s *emailSettings) Validate() error {
	var errs []error
	if s.Host == "" {
		errs = append(errs, errors.New("host is required"))
	}
	if s.From == "" {
		errs = append(errs, errors.New("from is required"))
	}
	return errors.Join(errs...)
}

func emailFromURL(raw string, settings any) error {
	s := settings.(*emailSettings)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smtp" {
		// Never quote raw: it holds the password.
		return errors.New("want smtp://user:password@host:port?from=address")
	}
	s.Host = u.Hostname()
	if p := u.Port(); p != "" {
		if s.Port, err = strconv.Atoi(p); err != nil {
			return fmt.Errorf("bad port")
		}
	}
	s.Username = u.User.Username()
	pw, _ := u.User.Password()
	s.Password = channel.Secret(pw)
	s.From = u.Query().Get("from")
	return nil
}

type logSettings struct {
	Level string `yaml:"level"`
}

func testTypes() map[string]ChannelType {
	return map[string]ChannelType{
		"webhook":  {New: func() any { return &webhookSettings{} }},
		"email":    {New: func() any { return &emailSettings{} }, FromURL: emailFromURL},
		"log":      {New: func() any { return &logSettings{} }},
		"noop":     {},
		"failover": {New: func() any { return &failoverSettings{} }},
	}
}

// failoverSettings stands in for a channel made of other channels.
type failoverSettings struct {
	Providers []string `yaml:"providers"`
}

func (s *failoverSettings) ChannelRefs() []string         { return s.Providers }
func (s *failoverSettings) SetChannelRefs(names []string) { s.Providers = names }
func (s *failoverSettings) Validate() error {
	if len(s.Providers) < 2 {
		return errors.New("providers: a failover channel needs at least two provider channels")
	}
	return nil
}

// testEnv is the environment the tests load with; the values are the
// secrets that must never appear in an error.
func testEnv() map[string]string {
	return map[string]string{
		"HERALD_TOKEN":     "tok-s3cret",
		"WAREHOUSE_SECRET": "wh-s3cret",
	}
}

func testOptions() Options {
	env := testEnv()
	return Options{
		ChannelTypes: testTypes(),
		LookupEnv: func(name string) (string, bool) {
			v, ok := env[name]
			return v, ok
		},
	}
}
