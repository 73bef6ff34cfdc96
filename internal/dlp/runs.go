package dlp

import (
	"bytes"
	"math"
	"math/bits"
	"slices"
)

// checkRun looks closer at one long run of token characters. When the run
// starts a block wrapped into lines, it returns where the block ends; the
// block's other lines are then checked with inBlock set.
func (s *Scanner) checkRun(data []byte, start, end int, pl place, enc string, depth int, inBlock bool) (*Finding, int) {
	where := pl.where
	run := data[start:end]
	if f := s.knownFormat(data, start, end, pl, enc); f != nil {
		return f, end
	}
	if len(run) >= 51 && !s.off["wallet-key"] && walletKey(valueOf(run)) {
		return &Finding{Rule: "wallet-key", Where: where, Encoding: enc}, end
	}
	if len(run) >= minSeed*3 && !s.off["seed-phrase"] && joinedSeed(run, pl) {
		return &Finding{Rule: "seed-phrase", Where: where, Encoding: enc}, end
	}
	if pl.loose {
		if name := s.looseKey(data, start, end); name != "" {
			return &Finding{Rule: name, Where: where, Encoding: enc}, end
		}
	}
	// A value that its place names a credential, once what it decodes to
	// was looked at for a finding that says more.
	credential := func() (*Finding, int) {
		if pl.loose && !s.off[credentialRule] && credentialValue(data, start, end, pl) {
			return &Finding{Rule: credentialRule, Where: where, Encoding: enc}, end
		}
		return nil, end
	}
	if depth >= maxDepth {
		return credential()
	}
	if !inBlock {
		if f, next := s.checkWrapped(data, start, end, pl, enc, depth); next > end {
			return f, next
		}
	}
	if pieces := undelimit(run); pieces != nil {
		if f := s.scan(pieces, pl, join(enc, "delimited"), depth+1); f != nil {
			return f, end
		}
	}
	if f := s.signSplit(run, pl, enc, depth); f != nil {
		return f, end
	}
	if f := s.cutShort(data, start, end, pl, enc, depth); f != nil {
		return f, end
	}
	ds := decodings(data, start, end, pl.binary, s.on.glue)
	// Encoded over and over, the data is one run each time: a decoding of
	// all there is, and the only one, that is one run again takes no layer
	// of its own (each layer is shorter than the one before, so the chain
	// ends).
	chained := len(ds) == 1 && blank(data[:start]) && blank(data[end:]) && len(ds[0].data) >= minLongRun &&
		allToken(bytes.TrimSpace(ds[0].data))
	for _, d := range ds {
		next := depth
		if chained {
			next--
		}
		if f := s.scanDecoded(d, pl, enc, next); f != nil {
			return f, end
		}
	}
	if f := s.reversedEncoding(run, pl, enc, depth); f != nil {
		return f, end
	}
	return credential()
}

// knownFormat looks for the known formats and the injected secrets in
// the run at [start, end): a run with a rule's prefix, with one character
// of context on each side so the patterns can insist on a boundary; also
// backwards.
func (s *Scanner) knownFormat(data []byte, start, end int, pl place, enc string) *Finding {
	where := pl.where
	lo, hi := max(start-1, 0), min(end+1, len(data))
	run := data[start:end]
	for _, sec := range s.inRuns {
		if len(sec) <= len(run) && bytes.Contains(run, sec) {
			return &Finding{Rule: "injected-secret", Where: where, Encoding: enc}
		}
	}
	var cand uint64
	for i := 0; i+1 < len(run); i++ {
		cand |= firstByte[run[i]] & secondByte[run[i+1]]
	}
	for ; cand != 0; cand &= cand - 1 {
		bit := bits.TrailingZeros64(cand)
		r := &rules[bit%16]
		if len(s.off) > 0 && s.off[r.name] {
			continue
		}
		switch bit / 16 {
		case 0:
			if bytes.Contains(run, []byte(r.prefix)) && s.counts(r.re.Find(data[lo:hi]), pl) {
				return &Finding{Rule: r.name, Where: where, Encoding: enc}
			}
			if r.lower != nil && bytes.Contains(run, r.lowerPrefix) && s.counts(r.lower.Find(data[lo:hi]), pl) {
				return &Finding{Rule: r.name, Where: where, Encoding: join(enc, "lowercased")}
			}
		case 1:
			if bytes.Contains(run, r.rev) && s.counts(r.re.Find(reversed(data[lo:hi])), pl) {
				return &Finding{Rule: r.name, Where: where, Encoding: join(enc, "reversed")}
			}
		case 2:
			if f := s.rotated(r, data[lo:hi], run, pl); f != "" {
				return &Finding{Rule: r.name, Where: where, Encoding: join(enc, f)}
			}
		}
	}
	return nil
}

// rotated looks for r's format in window once rotated back from ROT13,
// when the run in it holds r's prefix so rotated; it returns how it was
// found ("rot13", or "lowercased+rot13"), or "".
func (s *Scanner) rotated(r *rule, window, run []byte, pl place) string {
	upper, lower := bytes.Contains(run, r.rot), r.lower != nil && bytes.Contains(run, r.rotLower)
	if !upper && !lower {
		return ""
	}
	back := rot13(window)
	switch {
	case upper && s.counts(r.re.Find(back), pl):
		return "rot13"
	case lower && s.counts(r.lower.Find(back), pl):
		return "lowercased+rot13"
	}
	return ""
}

// rot13 is b with its ASCII letters rotated by 13 (its own inverse).
func rot13(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			c = 'a' + (c-'a'+13)%26
		case 'A' <= c && c <= 'Z':
			c = 'A' + (c-'A'+13)%26
		}
		out[i] = c
	}
	return out
}

// lineFollows reports whether a line of token characters may follow the
// run that ends at data[end], right after a line break: the run may start
// a block wrapped into lines (checkWrapped), where in code the next line is
// indented, or the line ends in a sign.
func lineFollows(data []byte, end int) bool {
	brk := wrapBreak(data[end:])
	return brk > 0 && end+brk < len(data) && tokenChar[data[end+brk]]
}

// checkWrapped decodes the block wrapped into lines (MIME base64, PEM)
// that the run at [start, end) starts, whole, since a secret may straddle
// a line break; next is where the block ends (end when there is none).
func (s *Scanner) checkWrapped(data []byte, start, end int, pl place, enc string, depth int) (*Finding, int) {
	joined, next := wrapped(data, start, end)
	if next == end {
		return nil, end
	}
	// A key itself may be what was wrapped (ghp_... in lines of ten).
	if f := s.knownFormat(joined, 0, len(joined), pl, join(enc, "wrapped")); f != nil {
		return f, next
	}
	for _, d := range decodings(joined, 0, len(joined), false, s.on.glue) {
		if f := s.scanDecoded(d, pl, enc, depth); f != nil {
			return f, next
		}
	}
	return nil, next
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// tokenChar marks the bytes that make up tokens: base64 (both alphabets),
// hex, base32, and the punctuation of key formats.
var tokenChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "+/_-=" {
		t[c] = true
	}
	return t
}()

// nextRun returns the bounds of the next run of token characters at or after i.
func nextRun(data []byte, i int) (int, int) {
	for i < len(data) && !tokenChar[data[i]] {
		i++
	}
	start := i
	for i < len(data) && tokenChar[data[i]] {
		i++
	}
	return start, i
}

func allToken(b []byte) bool {
	for _, c := range b {
		if !tokenChar[c] {
			return false
		}
	}
	return true
}

func allHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func allBase32(b []byte) bool {
	for _, c := range bytes.TrimRight(b, "=") {
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// looksBase64 wants the mix of classes that encoded data has and
// identifiers (camelCase, snake_case) mostly lack: digits with both cases.
func looksBase64(b []byte) bool {
	var upper, lower, digit bool
	for _, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			upper = true
		case 'a' <= c && c <= 'z':
			lower = true
		case '0' <= c && c <= '9':
			digit = true
		case c == '=' || c == '+' || c == '/' || c == '-' || c == '_':
		default:
			return false
		}
	}
	return upper && lower && digit
}

// entropy is the Shannon entropy of b in bits per byte.
func entropy(b []byte) float64 {
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	var h float64
	n := float64(len(b))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

func reversed(b []byte) []byte {
	r := slices.Clone(b)
	slices.Reverse(r)
	return r
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return b + "+" + a
}

// blank reports whether b is white space only.
func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}

// reversedEncoding scans what a run decodes to read backwards (base64 or
// hex, reversed as a whole), when it then holds a beginning: bound for a
// host the bottle holds no credential for, as the glued views.
func (s *Scanner) reversedEncoding(run []byte, pl place, enc string, depth int) *Finding {
	if !s.on.glue || len(run) < 20 || !looksBase64(run) && !allHex(run) {
		return nil
	}
	back := reversed(run)
	if !s.HoldsBeginning(back) {
		return nil
	}
	for _, d := range decodings(back, 0, len(back), pl.binary, true) {
		if f := s.scanDecoded(d, pl, join(enc, "reversed"), depth); f != nil {
			return f
		}
	}
	return nil
}
