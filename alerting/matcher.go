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

// ParseMatcher reads `name="value"` with =, !=, =~ or !~; "{{server}}" in the value becomes server and
// "{{fqdn}}" its DNS name (fqdn, or the server name when none is known), quoted for a regex when the
// operator is a regex one. Exporters usually label targets by FQDN (instance="ex01.exlab.local:9182"), so a
// matcher for a server's alerts needs both: instance=~"(?i)({{server}}|{{fqdn}})(:[0-9]+)?".
func ParseMatcher(s, server, fqdn string) (Matcher, error) {
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
	if fqdn == "" {
		fqdn = server
	}
	quote := func(x string) string {
		if isRegex {
			return regexp.QuoteMeta(x)
		}
		return x
	}
	v = strings.NewReplacer("{{server}}", quote(server), "{{fqdn}}", quote(fqdn)).Replace(v)
	if isRegex {
		if _, err := regexp.Compile(v); err != nil {
			return Matcher{}, fmt.Errorf("matcher %q: %w", s, err)
		}
	}
	return Matcher{Name: m[1], Value: v, IsRegex: isRegex, IsEqual: !strings.HasPrefix(m[2], "!")}, nil
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
