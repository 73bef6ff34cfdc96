package dlp

import (
	"encoding/base64"
	"testing"
)

// TestMayBegin: the beginnings of known formats (raw and encoded) and of
// the scanner's secrets, and pieces that agree with them as far as they
// go; ordinary tokens do not.
func TestMayBegin(t *testing.T) {
	s := New([]string{injected})
	for _, b := range []string{"ghp_", "ghp_R8mX", "gh", "AKIA", "sk-a", "sk-ant-api03", "eyJh",
		base64.StdEncoding.EncodeToString([]byte(ghToken))[:6], injected[:4], reverse(injected)[:5]} {
		if !s.MayBegin([]byte(b)) {
			t.Errorf("%q: no", b)
		}
	}
	for _, b := range []string{"c0K0", "3f2a9b1c", "page", "ghx_", "AKIB", "t0-0", ""} {
		if s.MayBegin([]byte(b)) {
			t.Errorf("%q: yes", b)
		}
	}
	if !EndsBackwards([]byte("xxxx"+reverse(ghToken)), 4) || EndsBackwards([]byte("_phgabcdefgh"), 4) {
		t.Error("EndsBackwards")
	}
}
