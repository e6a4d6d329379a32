package config

import (
	"slices"
	"strconv"
	"strings"
)

// lineIndex maps key paths ("winrm.port", "server[2].host") to the line that sets them. BurntSushi/toml does
// not expose key positions, so the file is scanned: table headers, array-of-tables headers (indexed in
// order) and `key = value` lines. Good enough to point an admin at the right line.
type lineIndex map[string]int

func indexLines(src string) lineIndex {
	idx := lineIndex{}
	header := ""
	counts := map[string]int{}
	for i, raw := range strings.Split(src, "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "[["):
			name := strings.TrimSpace(strings.TrimSuffix(strings.SplitN(line[2:], "]]", 2)[0], "]]"))
			header = name + "[" + strconv.Itoa(counts[name]) + "]"
			counts[name]++
			idx[header] = i + 1
		case strings.HasPrefix(line, "["):
			header = strings.TrimSpace(strings.SplitN(line[1:], "]", 2)[0])
			idx[header] = i + 1
		default:
			k, _, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			k = strings.Trim(strings.TrimSpace(k), `"'`)
			path := k
			if header != "" {
				path = header + "." + k
			}
			if _, seen := idx[path]; !seen {
				idx[path] = i + 1
			}
		}
	}
	return idx
}

// line finds path, or — for a key that is missing — the line of the table it belongs to ([[window]] for
// window[0].schedule). Paths without array indexes (toml's undecoded keys) go through nth.
func (l lineIndex) line(path string) int {
	if n, ok := l[path]; ok {
		return n
	}
	if i := strings.LastIndex(path, "."); i > 0 {
		return l.line(path[:i])
	}
	return 0
}

// nth is the line of the n-th key (from 0, in file order) that is path once array indexes are removed, or
// line(path) when there are not that many: toml reports an unknown key once per table it appears in, all
// by the same index-free name, and each report should name its own line.
func (l lineIndex) nth(path string, n int) int {
	var lines []int
	for k, ln := range l {
		if stripIndexes(k) == path {
			lines = append(lines, ln)
		}
	}
	if n >= len(lines) {
		return l.line(path)
	}
	slices.Sort(lines)
	return lines[n]
}

func stripIndexes(s string) string {
	var b strings.Builder
	skip := false
	for _, r := range s {
		switch {
		case r == '[':
			skip = true
		case r == ']':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}
