// Package secret holds credentials so that they cannot leak by accident: a Value prints, logs and marshals
// as "<secret>", and only Reveal gives the text (to the one place that sends it, e.g. the WinRM client).
// Values are loaded from a file, an environment variable or a systemd credential — never from the main
// config in clear.
package secret

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/exmaintd/exmaintd/sentinel"
)

const redacted = "<secret>"

// Value is a secret string. The zero value is empty.
type Value struct{ s string }

// New wraps s.
func New(s string) Value { return Value{s: s} }

// Reveal returns the secret text. Call it only where the secret is sent.
func (v Value) Reveal() string { return v.s }

// Empty reports whether the secret is empty.
func (v Value) Empty() bool { return v.s == "" }

// String implements fmt.Stringer with a redacted text.
func (v Value) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v) with a redacted text.
func (v Value) GoString() string { return redacted }

// LogValue implements slog.LogValuer with a redacted text.
func (v Value) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler with a redacted text.
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler with a redacted text (TOML, YAML).
func (v Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Source says where a secret comes from. Exactly one field is set.
type Source struct {
	// File is a path; relative paths are resolved by the caller against the config file's directory.
	File string
	// Env is an environment variable name.
	Env string
	// Credential is a systemd credential name (LoadCredential=), read from $CREDENTIALS_DIRECTORY.
	Credential string
}

// ErrNoSource is returned by Load when no source is set.
const ErrNoSource = sentinel.Error("no secret source set (want one of file, env, credential)")

// Load reads the secret from its source. One trailing newline (as editors and `echo` write) is removed.
// Errors name the source but never contain the secret.
func Load(src Source, getenv func(string) string) (Value, error) {
	n := 0
	for _, s := range []string{src.File, src.Env, src.Credential} {
		if s != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return Value{}, ErrNoSource
	case n > 1:
		return Value{}, errors.New("more than one secret source set (want exactly one of file, env, credential)")
	}
	switch {
	case src.Env != "":
		v := getenv(src.Env)
		if v == "" {
			return Value{}, fmt.Errorf("environment variable %s is empty or unset", src.Env)
		}
		return New(v), nil
	case src.Credential != "":
		dir := getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return Value{}, fmt.Errorf("credential %q: $CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit?)", src.Credential)
		}
		if strings.ContainsAny(src.Credential, `/\`) {
			return Value{}, fmt.Errorf("credential name %q must not contain a path separator", src.Credential)
		}
		return readFile(filepath.Join(dir, src.Credential))
	default:
		return readFile(src.File)
	}
}

// LoadBytes reads binary secret material (a Kerberos keytab) from a file or a systemd credential, exactly
// as stored: nothing is trimmed. An environment variable cannot hold it.
func LoadBytes(src Source, getenv func(string) string) ([]byte, error) {
	switch {
	case src.Env != "":
		return nil, fmt.Errorf("environment variable %s: binary material must come from a file or a credential", src.Env)
	case src.File != "" && src.Credential != "":
		return nil, errors.New("more than one secret source set (want exactly one of file, credential)")
	case src.Credential != "":
		dir := getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return nil, fmt.Errorf("credential %q: $CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit?)", src.Credential)
		}
		if strings.ContainsAny(src.Credential, `/\`) {
			return nil, fmt.Errorf("credential name %q must not contain a path separator", src.Credential)
		}
		src.File = filepath.Join(dir, src.Credential)
	case src.File == "":
		return nil, ErrNoSource
	}
	b, err := os.ReadFile(src.File)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", src.File)
	}
	return b, nil
}

func readFile(path string) (Value, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Value{}, fmt.Errorf("%w", err) // *PathError names the file, not the content
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return Value{}, fmt.Errorf("%s is empty", path)
	}
	return New(s), nil
}
