package dlp

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"slices"
)

// Where a secret may begin: what a split watch (sidecars/egress) asks
// before it looks closer at a run of short pieces. A key sent a few
// characters a request begins where one of its pieces begins, so a run of
// pieces is scanned only from the pieces that begin as a known format
// does (raw, or base64-, base32- or hex-encoded from its first byte), or
// as one of the scanner's secrets in any of its forms; a format sent
// backwards ends the run with its beginning reversed.

// begins are the known formats' first characters (each format's own, not
// its prefix filter's: "gh" is only the start of ghp_, gho_, ...).
var begins = []string{
	"sk-ant-", "sk-", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "AIza",
	"xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-", "sk_live_", "rk_live_", "npm_", "pypi-", "hf_",
	"AGE-SECRET-KEY-1", "nsec1", "akia", "asia", // an AWS key ID lowercased
	"eyJ", "eyA", "ewo", // a JWT's header: base64url of {" or { " or {\n
}

// headsByte are the beginnings (begins and their encodings) by first
// byte; backwards are the begins reversed, of four bytes or more.
var (
	headsByte [256][][]byte
	backwards [][]byte
)

func init() {
	for _, h := range begins {
		for _, form := range encodedHeads([]byte(h)) {
			addHead(&headsByte, form)
		}
		if len(h) >= 4 {
			backwards = append(backwards, reversed([]byte(h)))
		}
	}
}

// encodedHeads are b and what its encodings begin with, to the last
// character b decides alone.
func encodedHeads(b []byte) [][]byte {
	out := [][]byte{b}
	for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		out = append(out, []byte(e.EncodeToString(b)[:len(b)*8/6]))
	}
	out = append(out, []byte(base32.StdEncoding.EncodeToString(b)[:len(b)*8/5]),
		[]byte(hex.EncodeToString(b)), bytes.ToUpper([]byte(hex.EncodeToString(b))))
	var kept [][]byte
	for _, f := range out {
		if len(f) >= 3 && !slices.ContainsFunc(kept, func(k []byte) bool { return bytes.Equal(k, f) }) {
			kept = append(kept, f)
		}
	}
	return kept
}

func addHead(by *[256][][]byte, h []byte) {
	if !slices.ContainsFunc(by[h[0]], func(k []byte) bool { return bytes.Equal(k, h) }) {
		by[h[0]] = append(by[h[0]], h)
	}
}

// MayBegin reports whether a secret the scanner finds may begin where b
// begins: b and a known beginning agree as far as the shorter goes.
func (s *Scanner) MayBegin(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	agree := func(h []byte) bool {
		n := min(len(h), len(b))
		return bytes.Equal(h[:n], b[:n])
	}
	if slices.ContainsFunc(headsByte[b[0]], agree) {
		return true
	}
	for _, sets := range [][][]byte{s.secrets, s.inRuns} {
		for _, f := range sets {
			if f[0] == b[0] && agree(f[:min(len(f), 8)]) {
				return true
			}
		}
	}
	return false
}

// EndsBackwards reports whether a known format's beginning, reversed,
// ends within the last n bytes of b: a key sent backwards is whole there.
func EndsBackwards(b []byte, n int) bool {
	for _, r := range backwards {
		if tail := b[max(0, len(b)-n-len(r)+1):]; bytes.Contains(tail, r) {
			return true
		}
	}
	return false
}
