package dlp

import "bytes"

// Two more ways text hides a key in plain sight: string literals joined
// by the language ("AKIA" + "QX4T...", Python's adjacent literals, PHP's
// and Lua's dots, SQL's ||), and bits written as binary digits (in groups
// of eight, or in one run).

// joinedLiteral is what the literal that ends with the run at [start,
// end) makes with the literals joined to it, when the run ends at a
// closing quote that a join follows: the runs at the joints, together.
// ok is false when there is no join, or the joined runs are too short to
// hold a key; at is where the last literal joined ends.
func joinedLiteral(data []byte, start, end int) (joined []byte, at int, ok bool) {
	at = end
	for parts := 0; parts < maxJoined; parts++ {
		q := quoteAt(data, at)
		if q == 0 {
			break
		}
		next, op := literalJoint(data, at+q)
		if next < 0 || next >= len(data) || !tokenChar[data[next]] {
			break
		}
		s, e := nextRun(data, next)
		if op == ',' && (end-start > 2 || e-s > 2) {
			break // a list's items are joined when they are a character or two: a key's, one at a time
		}
		if op == 0 && (!mixed(data[start:end]) || !mixed(data[s:e])) {
			// Literals side by side with no operator are joined in
			// Python and C, and are a list's items elsewhere (Go's
			// imports): pieces of a key there look like one.
			break
		}
		if joined == nil {
			joined = append(make([]byte, 0, 128), data[start:end]...)
		}
		joined = append(joined, data[s:e]...)
		start, end, at = s, e, e
	}
	return joined, at, len(joined) >= minLongRun
}

// maxJoined bounds the literals joined: a key in more pieces than this is
// the split watch's (sidecars/egress) to find, in code it is rare. The
// longest key a character a literal is joined whole.
const maxJoined = 128

// scanShortLiterals scans the chains of literals of a character or two
// that the scan's loop leaves out ('g' + 'h', ["g","h"], ['g', 'h'], a
// JSON list of them pretty-printed): a key written a character at a time;
// and lists of quoted words, pretty-printed, whose gaps are too long for
// the scan's seed phrases. Literals are many in code, so they are looked
// at only where the glued pieces are (glued.go).
func (s *Scanner) scanShortLiterals(data []byte, pl place, enc string) *Finding {
	if !s.on.glue {
		return nil
	}
	for _, q := range []byte{'"', '\''} {
		for i := 0; i+4 < len(data); i++ {
			j := bytes.IndexByte(data[i:len(data)-4], q)
			if j < 0 {
				break
			}
			i += j
			if !tokenChar[data[i+1]] {
				continue
			}
			start, end := i+1, skipRun(data, i+1)
			if end-start >= 3 && end-start <= 8 && end+2 < len(data) && data[end] == q && s.on.seed {
				if f, at := s.quotedSeed(data, start, end, pl, enc); f != nil {
					return f
				} else if at > end {
					i = at - 1
					continue
				}
			}
			if end-start > 2 || end+2 >= len(data) || !quoteChar[data[end]] || !mayJoin(data, end, true) {
				i = end - 1
				continue
			}
			joined, at, ok := joinedLiteral(data, start, end)
			if ok {
				if f := s.knownFormat(joined, 0, len(joined), pl, join(enc, "joined")); f != nil {
					return f
				}
			}
			i = max(at, end) - 1
		}
	}
	return nil
}

// quoteChar marks the bytes a literal may end with (a quote, or the
// backslash of an escaped one); joinNext those that may come after it, a
// space aside, in a join: an operator, a line break, the next quote.
var quoteChar, joinNext = func() (q, n [256]bool) {
	for _, c := range "\"'`\\" {
		q[c], n[c] = true, true
	}
	for _, c := range "+.|&\n\r\t" {
		n[c] = true
	}
	return q, n
}()

// mayJoin reports whether a join may follow the quote at data[end], as a
// first look that most literals (", ) ; ] }) fail; data holds two more
// bytes past end. A list's comma may, after a literal of a character or
// two (short).
func mayJoin(data []byte, end int, short bool) bool {
	i := end + 1
	if data[end] == '\\' {
		i++ // past the escaped quote
	}
	if i < len(data) && data[i] == ' ' {
		i++
	}
	return i < len(data) && (joinNext[data[i]] || short && data[i] == ',')
}

// quoteAt is the length of the quote at data[i]: 1, or 2 for one escaped
// (code in a JSON string: \"AKIA\" + \"...\"); 0 when there is none.
func quoteAt(data []byte, i int) int {
	switch {
	case i >= len(data):
		return 0
	case data[i] == '"' || data[i] == '\'' || data[i] == '`':
		return 1
	case data[i] == '\\' && i+1 < len(data) && (data[i+1] == '"' || data[i+1] == '\''):
		return 2
	}
	return 0
}

// literalJoint returns where the next literal's text starts, when what
// follows a closing quote at i-1 is a join (spaces or line breaks, at most
// one operator: + . .. || &, or a list's comma; op is its first byte, 0
// for none) and an opening quote; else -1.
func literalJoint(data []byte, i int) (next int, op byte) {
	i = skipBlank(data, i)
	if i < len(data) {
		switch c := data[i]; {
		case c == '+' || c == '&' || c == ',':
			i, op = i+1, c
		case c == '.':
			i, op = i+1, c
			if i < len(data) && data[i] == '.' {
				i++
			}
		case c == '|' && i+1 < len(data) && data[i+1] == '|':
			i, op = i+2, c
		}
	}
	i = skipBlank(data, i)
	if q := quoteAt(data, i); q > 0 {
		return i + q, op
	}
	return -1, 0
}

// mixed reports whether a piece looks like part of a key: letters with
// digits, or in both cases.
func mixed(b []byte) bool {
	var digit, upper, lower bool
	for _, c := range b {
		digit = digit || isDigit(c)
		upper = upper || isUpper(c)
		lower = lower || 'a' <= c && c <= 'z'
	}
	return digit && (upper || lower) || upper && lower
}

// skipBlank skips up to 64 spaces, tabs and line breaks (an indented
// continuation line), also as a JSON string writes them (\n).
func skipBlank(data []byte, i int) int {
	for n := 0; n < 64 && i < len(data); n++ {
		if c := data[i]; c == '\\' && i+1 < len(data) && (data[i+1] == 'n' || data[i+1] == 't' || data[i+1] == 'r') {
			i++
		} else if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			break
		}
		i++
	}
	return i
}

// bitGroups is a stretch of groups of eight binary digits with short gaps
// (01100111 01101000 ...).
type bitGroups struct{ start, end, n int }

// binaryByte is the byte eight binary digits stand for.
func binaryByte(b []byte) (byte, bool) {
	if len(b) != 8 {
		return 0, false
	}
	var v byte
	for _, c := range b {
		if c != '0' && c != '1' {
			return 0, false
		}
		v = v<<1 | (c - '0')
	}
	return v, true
}

// fromBits is the bytes of a run of binary digits, eight to a byte; nil
// when the run is not one.
func fromBits(run []byte) []byte {
	if len(run)%8 != 0 {
		return nil
	}
	out := make([]byte, 0, len(run)/8)
	for i := 0; i < len(run); i += 8 {
		v, ok := binaryByte(run[i : i+8])
		if !ok {
			return nil
		}
		out = append(out, v)
	}
	return out
}

// groupedBits is the bytes of a stretch of bit groups.
func groupedBits(data []byte, g bitGroups) []byte {
	out := make([]byte, 0, g.n)
	for at := g.start; at < g.end; {
		s, e := nextRun(data, at)
		if v, ok := binaryByte(data[s:e]); ok {
			out = append(out, v)
		}
		at = e
	}
	return out
}

// quotedSeed looks for a seed phrase in the list of quoted words whose
// first word is the run at [start, end) (["abandon", "ability", ...], a
// line each); at is where the list ends.
func (s *Scanner) quotedSeed(data []byte, start, end int, pl place, enc string) (f *Finding, at int) {
	var idx [maxSeed + 1]int
	words := idx[:0]
	for len(words) < maxSeed {
		w := seedWord(data[start:end])
		if w < 0 {
			break
		}
		words, at = append(words, w), end+1
		next, op := literalJoint(data, end+1)
		if next < 0 || op != ',' {
			break
		}
		start, end = next, skipRun(data, next)
		if end-start < 3 || end-start > 8 || end >= len(data) || !quoteChar[data[end]] {
			break
		}
	}
	if len(words) < minSeed {
		return nil, at
	}
	if ok, ex := seedPhrase(words); ok && (!ex || pl.loose) {
		return &Finding{Rule: "seed-phrase", Where: pl.where, Encoding: enc}, at
	}
	return nil, at
}
