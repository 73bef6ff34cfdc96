package dlp

// Two more ways text hides a key in plain sight: string literals joined
// by the language ("AKIA" + "QX4T...", Python's adjacent literals, PHP's
// and Lua's dots, SQL's ||), and bits written as binary digits (in groups
// of eight, or in one run).

// joinedLiteral is what the literal that ends with the run at [start,
// end) makes with the literals joined to it, when the run ends at a
// closing quote that a join follows: the runs at the joints, together.
// ok is false when there is no join, or the joined runs are too short to
// hold a key.
func joinedLiteral(data []byte, start, end int) (joined []byte, ok bool) {
	at := end
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
		if !op && (!mixed(data[start:end]) || !mixed(data[s:e])) {
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
	return joined, len(joined) >= minLongRun
}

// maxJoined bounds the literals joined: a key in more pieces than this is
// the split watch's (sidecars/egress) to find, in code it is rare.
const maxJoined = 16

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
// bytes past end.
func mayJoin(data []byte, end int) bool {
	i := end + 1
	if data[end] == '\\' {
		i++ // past the escaped quote
	}
	if i < len(data) && data[i] == ' ' {
		i++
	}
	return i < len(data) && joinNext[data[i]]
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
// one operator: + . .. || &, op says whether there was one) and an opening
// quote; else -1.
func literalJoint(data []byte, i int) (next int, op bool) {
	i = skipBlank(data, i)
	if i < len(data) {
		switch c := data[i]; {
		case c == '+' || c == '&':
			i, op = i+1, true
		case c == '.':
			i, op = i+1, true
			if i < len(data) && data[i] == '.' {
				i++
			}
		case c == '|' && i+1 < len(data) && data[i+1] == '|':
			i, op = i+2, true
		}
	}
	i = skipBlank(data, i)
	if q := quoteAt(data, i); q > 0 {
		return i + q, op
	}
	return -1, false
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
