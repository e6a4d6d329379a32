// Package config reads exmaintd's TOML configuration (config.example.toml documents every key): unknown
// keys are errors, every problem names its key and line, and all problems are reported at once. Secrets are
// never in the file: passwords and tokens come from files, environment variables or systemd credentials.
//
// A configuration that passes validation is resolved once, by Parse, into one Target per server (both
// channels, peers, DAG, procedure, thresholds) and one rollout per window (its rolling groups, each server
// with the window's patches): the daemon, `check` and `plan` act on those and do not read the
// configuration again to act on a server. Secrets and files are read when a target connects, so that a
// rotated password or keytab reaches the next window without a reload.
package config
