package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/exmaintd/exmaintd/alerting"
)

// URL is a service's URL: a string, or — when it carries a secret, such as a webhook's path token or an
// API key in the query — { file | env | credential } like every other secret.
type URL struct {
	Value  string
	Secret Secret
}

// UnmarshalTOML takes a string or a secret table.
func (u *URL) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		u.Value = x
		return nil
	case map[string]any:
		for k, val := range x {
			s, ok := val.(string)
			if !ok {
				return fmt.Errorf("%s: want a string", k)
			}
			switch k {
			case "file":
				u.Secret.File = s
			case "env":
				u.Secret.Env = s
			case "credential":
				u.Secret.Credential = s
			default:
				return fmt.Errorf("unknown key %q (want a URL string, or one of file, env, credential)", k)
			}
		}
		return nil
	}
	return fmt.Errorf("want a URL string or { file | env | credential }, got %T", v)
}

// Set reports whether a URL is configured.
func (u URL) Set() bool { return u.Value != "" || u.Secret != (Secret{}) }

// BasicAuth is basic_auth = { user = "…", password = { file | env | credential } }.
type BasicAuth struct {
	User     string `toml:"user"`
	Password Secret `toml:"password"`
}

// Service is how exmaintd reaches Prometheus, Alertmanager or a webhook: its URL and how to authenticate.
type Service struct {
	URL         URL       `toml:"url"`
	BearerToken Secret    `toml:"bearer_token"`
	BasicAuth   BasicAuth `toml:"basic_auth"`
	CAFile      string    `toml:"ca_file"` // trusted instead of the system's roots
}

// validateService checks a service's settings; key is its table (prometheus, alertmanager, notify[0]).
func validateService(col *collector, key string, s Service) {
	if s.URL.Value != "" {
		if p, err := url.Parse(s.URL.Value); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Hostname() == "" {
			col.add(key+".url", "%s… is not an http(s) URL", alerting.Redacted(s.URL.Value))
		}
	} else if s.URL.Secret != (Secret{}) {
		validateSecret(col, key+".url", s.URL.Secret, true)
	}
	validateSecret(col, key+".bearer_token", s.BearerToken, false)
	if s.BasicAuth != (BasicAuth{}) {
		if s.BasicAuth.User == "" {
			col.add(key+".basic_auth.user", "required with basic_auth")
		}
		validateSecret(col, key+".basic_auth.password", s.BasicAuth.Password, true)
		if s.BearerToken != (Secret{}) {
			col.add(key+".basic_auth", "set bearer_token or basic_auth, not both")
		}
	}
	if s.CAFile != "" && !filepath.IsAbs(s.CAFile) {
		col.add(key+".ca_file", "%q must be an absolute path", s.CAFile)
	}
}

// ServiceEndpoint reads a service's secrets and CA file into an alerting.Endpoint; errors name key.
func ServiceEndpoint(key string, s Service, timeout time.Duration, getenv func(string) string) (alerting.Endpoint, error) {
	ep := alerting.Endpoint{URL: s.URL.Value, BasicUser: s.BasicAuth.User, Timeout: timeout}
	if s.URL.Value == "" {
		v, err := LoadSecret(s.URL.Secret, getenv)
		if err != nil {
			return ep, fmt.Errorf("%s.url: %w", key, err)
		}
		ep.URL = v.Reveal()
		if p, err := url.Parse(ep.URL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Hostname() == "" {
			return ep, fmt.Errorf("%s.url: the secret does not hold an http(s) URL", key)
		}
	}
	var err error
	if s.BearerToken != (Secret{}) {
		if ep.BearerToken, err = LoadSecret(s.BearerToken, getenv); err != nil {
			return ep, fmt.Errorf("%s.bearer_token: %w", key, err)
		}
	}
	if s.BasicAuth.Password != (Secret{}) {
		if ep.BasicPassword, err = LoadSecret(s.BasicAuth.Password, getenv); err != nil {
			return ep, fmt.Errorf("%s.basic_auth.password: %w", key, err)
		}
	}
	if s.CAFile != "" {
		if ep.CACertPEM, err = os.ReadFile(s.CAFile); err != nil {
			return ep, fmt.Errorf("%s.ca_file: %w", key, err)
		}
	}
	return ep, nil
}
