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
}

func (c *collector) add(key, format string, args ...any) {
	c.ps = append(c.ps, Problem{File: c.file, Line: c.lines.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (c *collector) err() error {
	if len(c.ps) == 0 {
		return nil
	}
	sort.SliceStable(c.ps, func(i, j int) bool { return c.ps[i].Line < c.ps[j].Line })
	return c.ps
}
