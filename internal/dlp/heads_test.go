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

// TestHoldsBeginning: a beginning whole, in any of its forms, anywhere in
// the data or across where two pieces meet; ids and cursors hold none.
func TestHoldsBeginning(t *testing.T) {
	s := New([]string{injected})
	b64 := base64.StdEncoding.EncodeToString([]byte("x=" + ghToken))
	for _, b := range []string{"xxghp_", "zz" + reverse("AKIA"), b64[2:12], "tuc_" /* ghp_ in ROT13 */, "pay DE89", "zz" + injected[:10]} {
		if !s.HoldsBeginning([]byte(b)) {
			t.Errorf("%q: no", b)
		}
	}
	for _, b := range []string{"6f1c2b1e-9a43-4c1e-8f6e-2d7b4c9a1e55", "c17K2a3f", "page", "gh", "ghx_"} {
		if s.HoldsBeginning([]byte(b)) {
			t.Errorf("%q: yes", b)
		}
	}
	if !s.HoldsBeginningAcross([]byte("abcdgh"), []byte("p_xyz")) || s.HoldsBeginningAcross([]byte("ghp_ab"), []byte("cd")) || s.HoldsBeginningAcross([]byte("ab"), []byte("ghp_")) {
		t.Error("HoldsBeginningAcross")
	}
}
