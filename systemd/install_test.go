package systemd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestREADMEInstallSteps runs README.md's "Installing as a service" lines in a throwaway root (every
// /etc/ and /usr/bin/ path moved under it; go build and systemctl left out) and then reads the installed
// configuration as an unprivileged user, as the unit's DynamicUser does. Before, the steps made
// /etc/exmaintd 0750 root and the service could not read its own configuration. The credentials must stay
// unreadable to that user (systemd hands them over with LoadCredential=).
func TestREADMEInstallSteps(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running a command as another user needs root")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Installing as a service\n```sh\n")
	if !ok {
		t.Fatal("README.md has no \"Installing as a service\" shell block")
	}
	block, _, _ := strings.Cut(section, "```")
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root} { // t.TempDir makes both 0700: the user must traverse them
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var script []string
	for _, line := range strings.Split(block, "\n") {
		if strings.HasPrefix(line, "go build") || strings.HasPrefix(line, "systemctl") || strings.TrimSpace(line) == "" {
			continue
		}
		line = strings.NewReplacer("/etc/", root+"/etc/", "/usr/bin/", root+"/usr/bin/").Replace(line)
		script = append(script, line)
	}
	if len(script) < 5 {
		t.Fatalf("only %d install lines found:\n%s", len(script), block)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.Join(script, "\n"))
	cmd.Dir = ".." // the README's paths are relative to the repository
	cmd.Stdin = strings.NewReader("winrm-password\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install steps: %v\n%s\n%s", err, out, strings.Join(script, "\n"))
	}
	asNobody := func(path string) error {
		c := exec.Command("cat", path)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		c.Stdout, c.Stderr = &bytes.Buffer{}, &bytes.Buffer{}
		return c.Run()
	}
	if err := asNobody(filepath.Join(root, "etc/exmaintd/config.toml")); err != nil {
		t.Errorf("an unprivileged user cannot read the installed configuration: %v", err)
	}
	for _, secret := range []string{"winrm-password", "api-token"} {
		if err := asNobody(filepath.Join(root, "etc/exmaintd/credentials", secret)); err == nil {
			t.Errorf("an unprivileged user can read credentials/%s", secret)
		}
	}
	dropIn, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/exmaintd.service.d/network.conf"))
	if err != nil || !strings.Contains(string(dropIn), "IPAddressAllow=") {
		t.Errorf("the network drop-in: %q, %v", dropIn, err)
	}
}
