package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Default is the configuration before the file is applied (config.example.toml documents each value).
func Default() Config {
	return Config{
		Daemon: Daemon{StateDir: "/var/lib/exmaintd", Listen: "127.0.0.1:9105", LogLevel: "info", LogFormat: "json",
			Recovery: "reverse", ReverseTimeout: Duration{40 * time.Minute}, Parallel: 2},
		WinRM: WinRM{Port: 5986, Auth: "basic", Mode: "session", Load: "none", OperationTimeout: Duration{20 * time.Second},
			StartTimeout: Duration{120 * time.Second}, ReadTimeout: Duration{60 * time.Second}, WriteTimeout: Duration{10 * time.Minute}, Attempts: 3},
		Steps: Steps{PollInterval: Duration{10 * time.Second}, DrainTimeout: Duration{30 * time.Minute}, DrainStall: Duration{5 * time.Minute}, DrainPolicy: "fail",
			MoveTimeout: Duration{15 * time.Minute}, MoveSettle: Duration{time.Minute}, MoveAttempts: 2, MoveRetryInterval: Duration{time.Minute}, RebootTimeout: Duration{30 * time.Minute}, RestartDelay: Duration{5 * time.Second}, TransportBoot: Duration{5 * time.Minute}, ADReplicationWait: Duration{2 * time.Minute}, QueueMax: 500, CopyQueueMax: 10, ReplayQueueMax: 50,
			UndoAttempts: 3, UndoBackoff: Duration{10 * time.Second}, PatchGrace: Duration{30 * time.Minute}, DefaultStepEstimate: Duration{5 * time.Minute}, Rebalance: true},
		Prometheus:   Prometheus{Timeout: Duration{10 * time.Second}},
		Alertmanager: Alertmanager{Margin: Duration{time.Hour}, CreatedBy: "exmaintd", OnError: "continue"},
		Cluster:      defaultCluster(),
	}
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, string(src))
}

// Parse decodes and validates src (name is used in messages). It returns every problem at once as Problems.
func Parse(name, src string) (*Config, error) {
	c := Default()
	col := &collector{file: name, lines: indexLines(src)}
	md, err := toml.Decode(src, &c)
	if err != nil {
		// Report this error and every later one the decoder finds with the offending lines blanked, then
		// validate the rest of the file as if those lines were absent.
		decodeProblems, rest := decodeErrors(name, src, err)
		c = Default()
		if md, err = toml.Decode(rest, &c); err != nil {
			return nil, decodeProblems
		}
		col.ps = append(col.ps, decodeProblems...)
	}
	col.nameTables(&c)
	seen := map[string]int{}
	known := topTables()
	ignored := map[string]int{} // an unknown top-level table → its keys, reported once with a suggestion
	var unknownTables []string
	for _, k := range md.Undecoded() {
		if len(k) > 0 && !known[k[0]] {
			if _, dup := ignored[k[0]]; !dup {
				unknownTables = append(unknownTables, k[0])
				ignored[k[0]] = 0
			}
			if len(k) > 1 {
				ignored[k[0]]++
			}
			continue
		}
		key := k.String()
		col.addAt(col.lines.nth(key, seen[key]), key, "unknown key (see config.example.toml for the keys exmaintd knows)")
		seen[key]++
	}
	for _, t := range unknownTables {
		msg := fmt.Sprintf("unknown table [%s]: its keys are ignored (%d)", t, ignored[t])
		if near := nearest(t, known); near != "" {
			msg += fmt.Sprintf(" — did you mean [%s]?", near)
		}
		col.addAt(col.lines.nth(t, 0), t, "%s", msg)
	}
	decoded := len(col.ps) // the decode problems come first
	c.validate(col)
	col.ps = dropKnockOns(col.ps, decoded)
	if err := col.err(); err != nil {
		return nil, err
	}
	c.resolve()
	return &c, nil
}

// dropKnockOns removes the problems after the first n (the decode errors) that sit on a line a decode error
// blanked: what validation says about a value it could not read ("0s: want 15m..168h" after "1 hour is
// not a duration", "required" after an unterminated string) is a knock-on of that error, not a second one.
func dropKnockOns(ps Problems, n int) Problems {
	if n == 0 {
		return ps
	}
	blanked := map[int]bool{}
	for _, p := range ps[:n] {
		if p.Line > 0 {
			blanked[p.Line] = true
		}
	}
	out := ps[:n]
	for _, p := range ps[n:] {
		if !blanked[p.Line] {
			out = append(out, p)
		}
	}
	return out
}

// decodeErrors reports every syntax error and value of the wrong type or form (a string for a number,
// "30 minutes" for a duration), not only the first: the decoder stops at one, so its line is blanked (line
// numbers kept) and the file decoded again, a bounded number of times. rest is the source without those
// lines.
func decodeErrors(name, src string, first error) (ps Problems, rest string) {
	re := regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]+)"\): (.*)$`)
	lines := strings.Split(src, "\n")
	err := first
	for range 50 {
		var p Problem
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p = Problem{File: name, Line: pe.Position.Line, Key: pe.LastKey, Msg: strings.TrimSpace(pe.Message)}
		} else if m := re.FindStringSubmatch(strings.TrimSpace(err.Error())); m != nil {
			n, _ := strconv.Atoi(m[1])
			p = Problem{File: name, Line: n, Key: m[2], Msg: m[3]}
		} else {
			p = Problem{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
		}
		ps = append(ps, p)
		if p.Line < 1 || p.Line > len(lines) || strings.TrimSpace(lines[p.Line-1]) == "" {
			break // nothing left to blank: stop rather than loop
		}
		lines[p.Line-1] = ""
		c := Default()
		if _, err = toml.Decode(strings.Join(lines, "\n"), &c); err == nil {
			break
		}
	}
	return ps, strings.Join(lines, "\n")
}

// topTables are the top-level tables and keys a configuration may have: Config's TOML names.
func topTables() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ","); name != "" {
			out[name] = true
		}
	}
	return out
}

// nearest is the known name within two edits of name (a typo or a missing plural), "" if none.
func nearest(name string, known map[string]bool) string {
	best, bestD := "", 3
	for k := range known {
		if d := editDistance(name, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes: table names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
