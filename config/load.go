package config

import (
	"errors"
	"fmt"
	"os"
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
			MoveTimeout: Duration{15 * time.Minute}, MoveSettle: Duration{time.Minute}, MoveAttempts: 2, MoveRetryInterval: Duration{time.Minute}, RebootTimeout: Duration{30 * time.Minute}, TransportBoot: Duration{5 * time.Minute}, QueueMax: 500, CopyQueueMax: 10, ReplayQueueMax: 50,
			UndoAttempts: 3, UndoBackoff: Duration{10 * time.Second}, PatchGrace: Duration{30 * time.Minute}, DefaultStepEstimate: Duration{5 * time.Minute}, Rebalance: true},
		Prometheus:   Prometheus{Timeout: Duration{10 * time.Second}},
		Alertmanager: Alertmanager{Margin: Duration{time.Hour}, CreatedBy: "exmaintd", OnError: "continue"},
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
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Problems{{File: name, Line: pe.Position.Line, Msg: strings.TrimSpace(pe.Message)}}
		}
		// A type error from decoding ("toml: line 12 (last key "winrm.port"): incompatible types …").
		return nil, Problems{{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: ")}}
	}
	col.nameTables(&c)
	for _, k := range md.Undecoded() {
		col.add(k.String(), "unknown key (see config.example.toml for the keys exmaintd knows)")
	}
	c.validate(col)
	if err := col.err(); err != nil {
		return nil, err
	}
	return &c, nil
}
