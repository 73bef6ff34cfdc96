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
// characters a request begins somewhere in one of its pieces, so a run of
// pieces is scanned only from where a known format begins (raw, in ROT13,
// or base64-, base32- or hex-encoded, the encodings at each alignment they
// can have inside longer data), or one of the scanner's secrets in any of
// its forms; a format sent backwards ends the run with its beginning
// reversed.

// begins are the known formats' first characters (each format's own, not
// its prefix filter's: "gh" is only the start of ghp_, gho_, ...).
var begins = []string{
	"sk-ant-", "sk-", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "AIza",
	"xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-", "sk_live_", "rk_live_", "npm_", "pypi-", "hf_",
	"AGE-SECRET-KEY-1", "nsec1", "akia", "asia", // an AWS key ID lowercased
	"eyJ", "eyA", "ewo", // a JWT's header: base64url of {" or { " or {\n
	"xprv", "tprv", // an extended private key (BIP-32)
}

// beginning is a form a secret's beginning takes, and how many characters
// before it a scan must start: the first ones of the encoded group it
// starts inside, for base64 and base32 out of step.
type beginning struct {
	form []byte
	back int
}

// headsByte are the beginnings (begins and their forms) by first byte;
// wholeByte those and the begins reversed (of four bytes or more), as
// HoldsBeginning looks for them, and wholePair marks their first two
// bytes (a bit per pair); backwards the begins reversed.
var (
	headsByte [256][]beginning
	wholeByte [256][][]byte
	wholePair [1 << 16 / 64]uint64
	backwards [][]byte
	// longestBeginning is the longest form: a beginning that straddles
	// two pieces lies within this many bytes of where they meet.
	longestBeginning int
)

func init() {
	for _, h := range begins {
		for _, b := range encodedHeads([]byte(h)) {
			if !slices.ContainsFunc(headsByte[b.form[0]], func(k beginning) bool { return bytes.Equal(k.form, b.form) }) {
				headsByte[b.form[0]] = append(headsByte[b.form[0]], b)
				addWhole(b.form)
				longestBeginning = max(longestBeginning, len(b.form))
			}
		}
		if len(h) >= 4 {
			r := reversed([]byte(h))
			backwards = append(backwards, r)
			addWhole(r)
		}
	}
}

func addWhole(form []byte) {
	wholeByte[form[0]] = append(wholeByte[form[0]], form)
	p := int(form[0])<<8 | int(form[1])
	wholePair[p/64] |= 1 << (p % 64)
}

// encodedHeads are b, b in ROT13, and what its encodings hold of it to the
// last character b decides alone: base64 (both alphabets) and base32 at
// each alignment b may have inside longer data, hex in both cases.
func encodedHeads(b []byte) []beginning {
	out := []beginning{{b, 0}, {rot13(b), 0}}
	for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for k := range 3 {
			enc := e.EncodeToString(append(make([]byte, k), b...))
			from := (8*k + 5) / 6
			out = append(out, beginning{[]byte(enc[from : 8*(k+len(b))/6]), from})
		}
	}
	for k := range 5 {
		enc := base32.StdEncoding.EncodeToString(append(make([]byte, k), b...))
		from := (8*k + 4) / 5
		out = append(out, beginning{[]byte(enc[from : 8*(k+len(b))/5]), from})
	}
	out = append(out, beginning{[]byte(hex.EncodeToString(b)), 0}, beginning{bytes.ToUpper([]byte(hex.EncodeToString(b))), 0})
	var kept []beginning
	for _, f := range out {
		if len(f.form) >= 3 && !slices.ContainsFunc(kept, func(k beginning) bool { return bytes.Equal(k.form, f.form) }) {
			kept = append(kept, f)
		}
	}
	return kept
}

// MayBegin reports whether a secret the scanner finds may begin where b
// begins: b and a known beginning agree as far as the shorter goes.
func (s *Scanner) MayBegin(b []byte) bool {
	_, ok := s.Begins(b)
	return ok
}

// Begins is MayBegin, and says how many bytes before b a scan for that
// secret must start (the start of the encoded group b's beginning is in).
func (s *Scanner) Begins(b []byte) (back int, ok bool) {
	if len(b) == 0 {
		return 0, false
	}
	agree := func(h []byte) bool {
		n := min(len(h), len(b))
		return bytes.Equal(h[:n], b[:n])
	}
	for _, h := range headsByte[b[0]] {
		if agree(h.form) {
			return h.back, true
		}
	}
	if len(b) >= 4 && isIBANStart(b) {
		return 0, true
	}
	if s.firsts != nil {
		for _, f := range s.firsts[b[0]] {
			if agree(f) {
				return 0, true
			}
		}
	}
	return 0, false
}

// HoldsBeginning reports whether b holds a beginning whole, anywhere: a
// known format's in any of its forms or reversed, an IBAN's, the first
// bytes of one of the scanner's secrets in any of its forms.
func (s *Scanner) HoldsBeginning(b []byte) bool {
	return s.holds(b, len(b), 0)
}

// HoldsBeginningAcross reports whether a beginning that HoldsBeginning
// looks for starts in a and ends in b, had b followed a.
func (s *Scanner) HoldsBeginningAcross(a, b []byte) bool {
	n := LongestBeginning() - 1
	var buf [128]byte
	tail := a[max(0, len(a)-n):]
	joined := append(append(buf[:0], tail...), b[:min(len(b), n)]...)
	return s.holds(joined, len(tail), len(tail)+1)
}

// holds reports whether a beginning starts in b before to and ends at or
// past end.
func (s *Scanner) holds(b []byte, to, end int) bool {
	for k := 0; k < to && k+1 < len(b); k++ {
		p := int(b[k])<<8 | int(b[k+1])
		if wholePair[p/64]&(1<<(p%64)) != 0 {
			for _, h := range wholeByte[b[k]] {
				if k+len(h) <= len(b) && k+len(h) >= end && bytes.Equal(b[k:k+len(h)], h) {
					return true
				}
			}
		}
		if isUpper(b[k]) && k+4 <= len(b) && k+4 >= end && isIBANStart(b[k:]) {
			return true
		}
		if s.firsts != nil {
			for _, f := range s.firsts[b[k]] {
				if k+len(f) <= len(b) && k+len(f) >= end && bytes.Equal(b[k:k+len(f)], f) {
					return true
				}
			}
		}
	}
	return false
}

// secretFirsts are the first bytes (up to 8) of each of a scanner's
// secrets' forms, by their first byte: looked up as a scan for the
// beginnings passes, where a search for each form cost a pass of its own.
type secretFirsts [256][][]byte

func firstsOf(sets ...[][]byte) *secretFirsts {
	var t secretFirsts
	any := false
	for _, set := range sets {
		for _, f := range set {
			f = f[:min(len(f), 8)]
			if !slices.ContainsFunc(t[f[0]], func(g []byte) bool { return bytes.Equal(f, g) }) {
				t[f[0]], any = append(t[f[0]], f), true
			}
		}
	}
	if !any {
		return nil
	}
	return &t
}

// LongestBeginning is the most bytes a beginning HoldsBeginning looks for
// may take.
func LongestBeginning() int { return max(longestBeginning, 8) }

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

// beginningsIn calls fn with each place in b where a beginning starts
// whole (a known format's in any of its forms, the first bytes of one of
// the scanner's secrets in any of its forms), and how many bytes before it
// a scan for it must start; fn returns false to stop.
func (s *Scanner) beginningsIn(b []byte, fn func(at, back int) bool) {
	for k := 0; k+1 < len(b); k++ {
		p := int(b[k])<<8 | int(b[k+1])
		if wholePair[p/64]&(1<<(p%64)) != 0 {
			for _, h := range headsByte[b[k]] {
				if bytes.HasPrefix(b[k:], h.form) {
					if !fn(k, h.back) {
						return
					}
					break
				}
			}
		}
		if s.firsts != nil {
			for _, f := range s.firsts[b[k]] {
				if bytes.HasPrefix(b[k:], f) {
					if !fn(k, 0) {
						return
					}
					break
				}
			}
		}
	}
}
