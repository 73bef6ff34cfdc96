package engines

import (
	"os/exec"
	"strings"
	"testing"
)

// TestShellWordIsOneWord: what ShellWord quotes, a shell reads back as
// the one word it was.
func TestShellWordIsOneWord(t *testing.T) {
	for _, s := range []string{"plain", "/a/b-c_d.toml", "a b", "it's", "$(rm -rf ~)", "`x`", "", "a\nb", "*"} {
		out, err := exec.Command("bash", "-c", `printf %s `+ShellWord(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("ShellWord(%q) = %s: the shell read %q (%v)", s, ShellWord(s), out, err)
		}
	}
	if fix := Install("podman"); !strings.Contains(fix, " install -y podman") {
		t.Errorf("Install: %q", fix)
	}
	if out, err := exec.Command("bash", "-n", "-c", cgroup2Fix()).CombinedOutput(); err != nil {
		t.Errorf("%q: %v %s", cgroup2Fix(), err, out)
	}
}
