package alerting

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Matcher is an Alertmanager API v2 matcher.
type Matcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual bool   `json:"isEqual"`
}

// ParseMatcher reads `name="value"` with =, !=, =~ or !~; "{{server}}" in the value becomes server (quoted
// for a regex when the operator is a regex one).
func ParseMatcher(s, server string) (Matcher, error) {
	re := regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*$`)
	m := re.FindStringSubmatch(s)
	if m == nil {
		return Matcher{}, fmt.Errorf("matcher %q: want name=\"value\" with =, !=, =~ or !~", s)
	}
	v, err := strconv.Unquote(m[3])
	if err != nil {
		return Matcher{}, fmt.Errorf("matcher %q: %w", s, err)
	}
	isRegex := strings.Contains(m[2], "~")
	repl := server
	if isRegex {
		repl = regexp.QuoteMeta(server)
	}
	return Matcher{Name: m[1], Value: strings.ReplaceAll(v, "{{server}}", repl), IsRegex: isRegex, IsEqual: !strings.HasPrefix(m[2], "!")}, nil
}

// PromQL renders the matcher as a PromQL label matcher.
func (m Matcher) PromQL() string {
	op := "="
	switch {
	case m.IsRegex && m.IsEqual:
		op = "=~"
	case m.IsRegex:
		op = "!~"
	case !m.IsEqual:
		op = "!="
	}
	return m.Name + op + strconv.Quote(m.Value)
}
