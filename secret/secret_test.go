package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValueNeverPrints(t *testing.T) {
	v := New("hunter2")
	var sb strings.Builder
	logger := slog.New(slog.NewJSONHandler(&sb, nil))
	logger.Info("x", "password", v)
	j, _ := json.Marshal(struct{ P Value }{v})
	for _, s := range []string{fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s", v, v, v, v), sb.String(), string(j)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret leaked: %s", s)
		}
	}
	if v.Reveal() != "hunter2" {
		t.Errorf("Reveal = %q", v.Reveal())
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"EXM_PW": "fromenv", "CREDENTIALS_DIRECTORY": dir}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name    string
		src     Source
		want    string
		wantErr string
	}{
		{"file", Source{File: filepath.Join(dir, "pw")}, "s3cret", ""},
		{"env", Source{Env: "EXM_PW"}, "fromenv", ""},
		{"credential", Source{Credential: "pw"}, "s3cret", ""},
		{"none", Source{}, "", "no secret source"},
		{"two", Source{File: "a", Env: "B"}, "", "more than one"},
		{"unset env", Source{Env: "NOPE"}, "", "NOPE is empty or unset"},
		{"missing file", Source{File: filepath.Join(dir, "nope")}, "", "no such file"},
		{"empty file", Source{File: filepath.Join(dir, "empty")}, "", "is empty"},
		{"credential path", Source{Credential: "../pw"}, "", "path separator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Load(tt.src, getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.Reveal() != tt.want {
				t.Errorf("got %q, want %q", v.Reveal(), tt.want)
			}
		})
	}
}

// TestLoadBytes: binary material (a keytab ending in a newline byte) is read exactly, from a file or a
// credential; an environment variable or no source is an error.
func TestLoadBytes(t *testing.T) {
	dir := t.TempDir()
	raw := []byte{0x05, 0x02, 0x00, '\n'}
	if err := os.WriteFile(filepath.Join(dir, "kt"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CREDENTIALS_DIRECTORY": dir}
	getenv := func(k string) string { return env[k] }
	for _, src := range []Source{{File: filepath.Join(dir, "kt")}, {Credential: "kt"}} {
		b, err := LoadBytes(src, getenv)
		if err != nil || string(b) != string(raw) {
			t.Errorf("LoadBytes(%+v) = %q, %v; want %q", src, b, err, raw)
		}
	}
	for _, src := range []Source{{}, {Env: "KT"}, {Credential: "../kt"}, {File: filepath.Join(dir, "missing")}, {File: "a", Credential: "b"}} {
		if _, err := LoadBytes(src, getenv); err == nil {
			t.Errorf("LoadBytes(%+v): no error", src)
		}
	}
}
