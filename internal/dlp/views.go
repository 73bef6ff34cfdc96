package dlp

import "bytes"

// minPieces is how many delimited pieces make a sequence worth joining: a
// short key format spread out, fewer than ordinary lists of initials.
const minPieces = 12

// sequence joins the pieces of a sequence that starts with the run at
// [start, end): short pieces (one or two token characters, or 0xHH) kept
// apart by one repeated delimiter of one or two other characters. It
// returns the joined pieces and where the sequence ends, or at == end when
// there is no such sequence; octal is the bytes the pieces stand for
// when each is three octal digits (od -b, 147 150 160), else nil.
func sequence(data []byte, start, end int) (joined, octal []byte, at int) {
	first, ok := firstPiece(data[start:end])
	if !ok || end+2 >= len(data) {
		return nil, nil, end
	}
	dl := 1
	if !tokenChar[data[end+1]] {
		dl = 2
	}
	delim := data[end : end+dl]
	n, at := 1, end
	b0, dec := decimalByte(first) // [103, 104, 112, ...]: the bytes the numbers stand for
	o0, oct := octalByte(first)
	var bytesOf []byte
	for at+dl < len(data) && data[at] == delim[0] && (dl == 1 || data[at+1] == delim[1]) {
		ps := at + dl
		pe := ps
		for pe < len(data) && pe-ps <= 4 && tokenChar[data[pe]] {
			pe++
		}
		p, ok := piece(data[ps:pe])
		if !ok || pe < len(data) && tokenChar[data[pe]] {
			break
		}
		if joined == nil {
			joined = append(make([]byte, 0, 64), first...)
			bytesOf = append(make([]byte, 0, 64), b0)
			if oct {
				octal = append(make([]byte, 0, 64), o0)
			}
		}
		joined = append(joined, p...)
		if c, ok := decimalByte(p); dec && ok {
			bytesOf = append(bytesOf, c)
		} else {
			dec = false
		}
		if c, ok := octalByte(p); oct && ok {
			octal = append(octal, c)
		} else {
			oct, octal = false, nil
		}
		n, at = n+1, pe
	}
	if n < minPieces {
		return nil, nil, end
	}
	if dec {
		return bytesOf, octal, at
	}
	return joined, nil, at
}

// octalByte is the byte three octal digits stand for, up to 377.
func octalByte(p []byte) (byte, bool) {
	if len(p) != 3 || p[0] < '0' || p[0] > '3' {
		return 0, false
	}
	v := 0
	for _, c := range p {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	return byte(v), true
}

// decimalByte is the byte a piece of one to three digits stands for, up
// to 255.
func decimalByte(p []byte) (byte, bool) {
	if len(p) == 0 || len(p) > 3 {
		return 0, false
	}
	v := 0
	for _, c := range p {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return byte(v), v <= 255
}

// streak is a stretch of short runs with gaps of at most two bytes, which
// may hold a delimited sequence.
type streak struct{ start, end, n int }

// firstPiece is piece, also for the end of a run after '=' (t=g.h.p).
func firstPiece(run []byte) ([]byte, bool) {
	if len(run) > 4 {
		switch {
		case run[len(run)-2] == '=':
			run = run[len(run)-1:]
		case run[len(run)-3] == '=':
			run = run[len(run)-2:]
		default:
			return nil, false
		}
	}
	return piece(run)
}

// piece is what a short run stands for: one or two token characters, or
// the hex digits of 0xHH.
func piece(run []byte) ([]byte, bool) {
	switch {
	case len(run) > 0 && len(run) <= 2:
		return run, true
	case len(run) == 3 && isDigit(run[0]) && isDigit(run[1]) && isDigit(run[2]):
		return run, true // a byte in decimal
	case len(run) > 2 && run[len(run)-2] == '=' && len(run) <= 4:
		return run[len(run)-1:], true
	case len(run) > 3 && run[len(run)-3] == '=' && len(run) <= 4:
		return run[len(run)-2:], true
	case len(run) > 2 && len(run) <= 4 && run[0] == '0' && run[1] == 'x' && allHex(run[2:]):
		return run[2:], true
	}
	return nil, false
}

func skipRun(data []byte, i int) int {
	for i < len(data) && tokenChar[data[i]] {
		i++
	}
	return i
}

// undelimit joins a run made of short pieces and a repeated '-' or '_'
// (de-ad-be-ef), which the run splitting cannot take apart; nil otherwise.
func undelimit(run []byte) []byte {
	for _, d := range []byte{'-', '_'} {
		if bytes.Count(run, []byte{d}) < minPieces-1 {
			continue
		}
		parts := bytes.Split(run, []byte{d})
		ok := true
		for _, p := range parts {
			if len(p) == 0 || len(p) > 2 {
				ok = false
				break
			}
		}
		if ok {
			return bytes.Join(parts, nil)
		}
	}
	return nil
}

// minWrap is the narrowest wrapping looked for: one base64 quantum.
const minWrap = 4

// wrapped joins a block of lines of token characters (base64 in either
// alphabet, a key's own, quoted-printable's lines ending in a soft break's
// '=') that starts with the run at [start, end): lines
// of one length (any from minWrap), each broken by \n,
// \r\n or their escapes \n and \r\n as in a JSON string, or continued (a
// backslash before the break, the next line's indentation dropped: TOML,
// YAML), the last line as
// long or shorter, at least 16 characters in all. It returns the joined
// block and where it ends, or next == end when the run does not start
// such a block.
func wrapped(data []byte, start, end int) ([]byte, int) {
	width := end - start
	if width < minWrap || wrapBreak(data[end:]) == 0 {
		return nil, end
	}
	var joined []byte
	at := end
	for {
		brk := wrapBreak(data[at:])
		if brk == 0 {
			break
		}
		s2, e2 := at+brk, skipRun(data, at+brk)
		if e2 == s2 || e2-s2 > width {
			break
		}
		if joined == nil {
			joined = append(joined, data[start:end]...)
		}
		if joined[len(joined)-1] == '=' {
			// '=' ends no line of base64 but its last: this is
			// quoted-printable's soft line break.
			joined = joined[:len(joined)-1]
		}
		joined = append(joined, data[s2:e2]...)
		at = e2
		if e2-s2 < width {
			break
		}
	}
	if len(joined) < minLongRun {
		return nil, end
	}
	return joined, at
}

// percentStretches calls fn with each stretch of data around the percent
// escapes that stand for token characters (or for a percent sign, when
// encoded again, or a backslash, which may start an escape), merged where
// they overlap: %02d and %20 hide no key.
// fn returns false to stop.
func percentStretches(data []byte, fn func([]byte) bool) {
	st := newStretches(data, fn)
	for i := 0; i+2 < len(data); i++ {
		j := bytes.IndexByte(data[i:], '%')
		if j < 0 || i+j+2 >= len(data) {
			break
		}
		i += j
		if !isHex(data[i+1]) || !isHex(data[i+2]) {
			continue
		}
		if c := unhex(data[i+1])<<4 | unhex(data[i+2]); !tokenChar[c] && c != '%' && c != '\\' {
			continue // (a backslash may start an escape: %5Cx67)
		}
		if !st.add(i) {
			return
		}
	}
	st.end()
}

// percentDecode undoes percent-encoding, again while that changes
// anything (a value encoded two or three times), leaving what is no
// escape as it is. It returns the result and how many times it decoded.
func percentDecode(data []byte) ([]byte, int) {
	times := 0
	for times < 3 && bytes.IndexByte(data, '%') >= 0 {
		out := make([]byte, 0, len(data))
		for i := 0; i < len(data); i++ {
			if data[i] == '%' && i+2 < len(data) && isHex(data[i+1]) && isHex(data[i+2]) {
				out = append(out, unhex(data[i+1])<<4|unhex(data[i+2]))
				i += 2
				continue
			}
			out = append(out, data[i])
		}
		if len(out) == len(data) {
			break
		}
		data, times = out, times+1
	}
	return data, times
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// lineBreak is the length of the line break b starts with: \n, \r\n, or
// their escapes \n and \r\n as in a JSON string; 0 for none.
func lineBreak(b []byte) int {
	switch {
	case len(b) == 0:
		return 0
	case b[0] == '\n':
		return 1
	case b[0] == '\r':
		if len(b) > 1 && b[1] == '\n' {
			return 2
		}
	case b[0] == '\\' && len(b) > 1:
		if b[1] == 'n' {
			return 2
		}
		if b[1] == 'r' && len(b) > 3 && b[2] == '\\' && b[3] == 'n' {
			return 4
		}
	}
	return 0
}

// wrapBreak is lineBreak, or a line continuation: a backslash before the
// line break, and the next line's indentation, which TOML's and YAML's
// strings drop (a key written over lines of a config file's string).
func wrapBreak(b []byte) int {
	if n := lineBreak(b); n > 0 || len(b) < 2 || b[0] != '\\' {
		return n
	}
	n := lineBreak(b[1:])
	if n == 0 || b[1] == '\\' {
		return 0
	}
	n++
	for n < len(b) && (b[n] == ' ' || b[n] == '\t') {
		n++
	}
	return n
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
