package dlp

import "bytes"

// A key with invisible characters between its own (zero-width spaces and
// joiners, soft hyphens, bidi marks, a byte-order mark), or written in
// fullwidth forms (ｇｈｐ＿...), reads the same to whoever receives it and
// breaks every run the scan looks at. The stretches around such
// characters are scanned once they are dropped and the fullwidth forms
// are ASCII again.

// invisibleAt is the length of the character at b[0] when it is one that
// is dropped or mapped (and what it maps to, 0 for dropped); 0 otherwise.
func invisibleAt(b []byte) (int, byte) {
	switch {
	case len(b) >= 2 && b[0] == 0xc2 && b[1] == 0xad: // soft hyphen
		return 2, 0
	case len(b) < 3:
		return 0, 0
	case b[0] == 0xe2 && b[1] == 0x80 && (0x8b <= b[2] && b[2] <= 0x8f || 0xaa <= b[2] && b[2] <= 0xae), // zero-width, bidi
		b[0] == 0xe2 && b[1] == 0x81 && 0xa0 <= b[2] && b[2] <= 0xa9, // word joiner, invisible operators, isolates
		b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf:                 // byte-order mark
		return 3, 0
	case b[0] == 0xef && b[1] == 0xbc && 0x81 <= b[2] && b[2] <= 0xbf: // fullwidth ! to _
		return 3, b[2] - 0x81 + '!'
	case b[0] == 0xef && b[1] == 0xbd && 0x80 <= b[2] && b[2] <= 0x9e: // fullwidth ` to ~
		return 3, b[2] - 0x80 + '`'
	}
	return 0, 0
}

// scanInvisible scans the stretches around invisible and fullwidth
// characters with those undone.
func (s *Scanner) scanInvisible(data []byte, pl place, enc string, depth int) *Finding {
	lo, hi := -1, -1
	flush := func() *Finding {
		if lo < 0 {
			return nil
		}
		out := make([]byte, 0, hi-lo)
		for i := lo; i < hi; {
			if n, c := invisibleAt(data[i:hi]); n > 0 {
				if c != 0 {
					out = append(out, c)
				}
				i += n
				continue
			}
			out = append(out, data[i])
			i++
		}
		return s.scan(out, pl, join(enc, "unicode"), depth+1)
	}
	var next [3]int // where each lead byte is next, from i on (-1: none)
	leads := [3]byte{0xc2, 0xe2, 0xef}
	for k := range next {
		next[k] = bytes.IndexByte(data, leads[k])
	}
	for {
		i := -1
		for k := range next {
			if next[k] >= 0 && (i < 0 || next[k] < i) {
				i = next[k]
			}
		}
		if i < 0 {
			break
		}
		for k := range next {
			if next[k] == i {
				if j := bytes.IndexByte(data[i+1:], leads[k]); j >= 0 {
					next[k] = i + 1 + j
				} else {
					next[k] = -1
				}
			}
		}
		if n, _ := invisibleAt(data[i:]); n == 0 {
			continue
		}
		if lo >= 0 && i-escapeReach <= hi {
			hi = min(i+escapeReach, len(data))
			continue
		}
		if f := flush(); f != nil {
			return f
		}
		lo, hi = max(i-escapeReach, 0), min(i+escapeReach, len(data))
	}
	return flush()
}
