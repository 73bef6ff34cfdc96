package archtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestScriptsKillByPID: the scripts that set up and tear down test
// machinery kill only what they started, each by its process id: never by
// a name or a pattern, which reaches processes others started on a
// shared machine.
func TestScriptsKillByPID(t *testing.T) {
	byName := regexp.MustCompile(`(^|[\s;&|(])(pkill|killall)\b`)
	scripts, err := filepath.Glob("../../hack/*.sh")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, s := range scripts {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if code, _, _ := strings.Cut(line, "#"); byName.MatchString(code) {
				t.Errorf("%s:%d kills by name: %s", filepath.Base(s), i+1, strings.TrimSpace(line))
			}
		}
	}
}
