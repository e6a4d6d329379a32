package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Key  string // e.g. server[1].port
	Msg  string
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc += fmt.Sprintf(":%d", p.Line)
	}
	if p.Key == "" {
		return fmt.Sprintf("%s: %s", loc, p.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, p.Key, p.Msg)
}

// Problems is every problem found; Load returns it as its error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	if len(ps) == 1 {
		return "config: " + lines[0]
	}
	return fmt.Sprintf("config: %d problems:\n  %s", len(ps), strings.Join(lines, "\n  "))
}

// collector gathers problems with their lines.
type collector struct {
	file  string
	lines lineIndex
	ps    Problems
	// names maps a table of an array ("window[0]") to how an operator knows it (window "monthly-patch").
	names map[string]string
}

func (c *collector) add(key, format string, args ...any) {
	c.addAt(c.lines.line(key), key, format, args...)
}

// addAt is add with the line given.
func (c *collector) addAt(line int, key, format string, args ...any) {
	c.ps = append(c.ps, Problem{File: c.file, Line: line, Key: c.display(key), Msg: fmt.Sprintf(format, args...)})
}

// display names an array element by its name: window[0].schedule → window "monthly-patch".schedule.
func (c *collector) display(key string) string {
	head, rest, _ := strings.Cut(key, ".")
	if n, ok := c.names[head]; ok {
		if rest == "" {
			return n
		}
		return n + "." + rest
	}
	return key
}

// nameTables records the names of the configuration's windows, servers, DAGs, procedures, patches and
// notifications for display; one without a name keeps its index.
func (c *collector) nameTables(cfg *Config) {
	c.names = map[string]string{}
	set := func(table string, i int, name string) {
		c.names[fmt.Sprintf("%s[%d]", table, i)] = tableKey(table, i, name)
	}
	for i, x := range cfg.Windows {
		set("window", i, x.Name)
	}
	for i, x := range cfg.Servers {
		set("server", i, x.Name)
	}
	for i, x := range cfg.DAGs {
		set("dag", i, x.Name)
	}
	for i, x := range cfg.Procedures {
		set("procedure", i, x.Name)
	}
	for i, x := range cfg.Patches {
		set("patch", i, x.Name)
	}
	for i, x := range cfg.Notify {
		set("notify", i, x.Name)
	}
}

func (c *collector) err() error {
	if len(c.ps) == 0 {
		return nil
	}
	sort.SliceStable(c.ps, func(i, j int) bool { return c.ps[i].Line < c.ps[j].Line })
	return c.ps
}

// tableKey names the i-th element of an array of tables in messages: window "monthly-patch", or window[0]
// when it has no name.
func tableKey(table string, i int, name string) string {
	if name != "" {
		return fmt.Sprintf("%s %q", table, name)
	}
	return fmt.Sprintf("%s[%d]", table, i)
}
