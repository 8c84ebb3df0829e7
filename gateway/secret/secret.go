// Package secret resolves secrets given in configuration as a literal, as
// the name of an environment variable (`*_env`) or as a file path (`*_file`),
// so that no secret has to sit in the YAML.
package secret

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Ref is one secret as the configuration names it. At most one of its fields
// may be set.
type Ref struct {
	Value string // given inline (discouraged, but allowed)
	Env   string // name of an environment variable holding it
	File  string // path of a file holding it (trailing newline dropped)
}

// ErrMissing is returned when a referenced variable or file is empty.
var ErrMissing = errors.New("secret is empty")

// IsSet reports whether any source is configured.
func (r Ref) IsSet() bool { return r.Value != "" || r.Env != "" || r.File != "" }

// Validate checks that at most one source is configured.
func (r Ref) Validate() error {
	n := 0
	for _, s := range []string{r.Value, r.Env, r.File} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("give the secret one way only: inline, _env or _file")
	}
	return nil
}

// Resolve returns the secret. An unset Ref resolves to "" without error; a
// Ref whose variable or file is empty or unreadable is an error that names
// the variable or file but never the secret.
func (r Ref) Resolve() (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	switch {
	case r.Env != "":
		v, ok := os.LookupEnv(r.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s: %w", r.Env, ErrMissing)
		}
		return v, nil
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			return "", fmt.Errorf("reading secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s: %w", r.File, ErrMissing)
		}
		return v, nil
	}
	return r.Value, nil
}

// Redacted is a string that never prints its value: use it to keep a resolved
// secret in a struct that may be logged.
type Redacted string

// String returns a placeholder.
func (Redacted) String() string { return "<secret>" }

// GoString returns a placeholder.
func (Redacted) GoString() string { return `"<secret>"` }

// MarshalText returns a placeholder.
func (Redacted) MarshalText() ([]byte, error) { return []byte("<secret>"), nil }

// Reveal returns the secret itself.
func (r Redacted) Reveal() string { return string(r) }
