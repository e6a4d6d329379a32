// Package config reads exmaintd's TOML configuration (config.example.toml documents every key): unknown
// keys are errors, every problem names its key and line, and all problems are reported at once. Secrets are
// never in the file: passwords and tokens come from files, environment variables or systemd credentials.
package config
