// Package sentinel provides constant sentinel errors: a package declares `const ErrX = sentinel.Error("...")`
// instead of a package-level variable, so that no package holds mutable global state (a caller could
// reassign an exported `var ErrX`), while errors.Is still matches wrapped occurrences.
package sentinel

// Error is an error whose identity is its text: two Errors with the same text are the same error.
type Error string

func (e Error) Error() string { return string(e) }
