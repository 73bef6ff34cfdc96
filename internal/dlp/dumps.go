package dlp

import "bytes"

// A file as the tools that show bytes print it (xxd, hexdump -C, od -b,
// od -t x1): lines that start with an offset, the bytes in hex (in groups
// of two digits or more) or octal (three digits), then, for some, the
// text. Each line holds sixteen bytes, so a key in the file is cut into
// lines with an offset and the text between; read back, the bytes are
// scanned. A dump starts at offset zero, seven or eight zeros at the
// start of a line (or of a JSON string's line).

var dumpMark = []byte("0000000")

// maxDumpLine bounds a dump's line: 16 bytes in octal with an offset and
// the text are under 100 characters.
const maxDumpLine = 256

// scanDumps scans the bytes of each dump in data.
func (s *Scanner) scanDumps(data []byte, pl place, enc string, depth int) *Finding {
	for at := 0; at < len(data); {
		i := bytes.Index(data[at:], dumpMark)
		if i < 0 {
			return nil
		}
		i += at
		at = i + len(dumpMark)
		if i > 0 && data[i-1] != '\n' && data[i-1] != '"' && !(i > 1 && data[i-2] == '\\' && data[i-1] == 'n') {
			continue
		}
		b, n := undump(data[i:])
		if len(b) >= minSecret {
			if f := s.scan(b, pl, join(enc, "dump"), depth+1); f != nil {
				return f
			}
		}
		at = max(at, i+n)
	}
	return nil
}

// undump reads the bytes of the dump d starts with, and returns them and
// how much of d it took.
func undump(d []byte) (out []byte, n int) {
	octal, decided := false, false
	for n < len(d) {
		eol, next := lineEnd(d[n:])
		line := d[n : n+eol]
		j := 0
		for j < len(line) && isHex(line[j]) {
			j++
		}
		if j < 6 || j > 10 {
			break
		}
		if j < len(line) && line[j] == ':' {
			j++
		}
		for count := 0; ; {
			sp := 0
			for j < len(line) && line[j] == ' ' {
				j, sp = j+1, sp+1
			}
			// Two spaces and more end the bytes where the text starts
			// (hexdump -C puts two in the middle too).
			if j >= len(line) || sp == 0 || sp >= 2 && (count >= 16 || !isHex(line[j])) {
				break
			}
			k := j
			for k < len(line) && isHex(line[k]) {
				k++
			}
			if k == j || k < len(line) && line[k] != ' ' {
				break
			}
			item := line[j:k]
			if !decided {
				_, octal = octalByte(item)
				decided = true
			}
			if octal {
				c, ok := octalByte(item)
				if !ok {
					break
				}
				out, count = append(out, c), count+1
			} else {
				if len(item)%2 != 0 {
					break
				}
				for h := 0; h < len(item); h += 2 {
					out = append(out, unhex(item[h])<<4|unhex(item[h+1]))
				}
				count += len(item) / 2
			}
			j = k
		}
		n += next
	}
	return out, n
}

// lineEnd is where the line b starts with ends, and where the next one
// starts: after \n, or a JSON string's \n; a dump's line is shorter than
// maxDumpLine.
func lineEnd(b []byte) (eol, next int) {
	b = b[:min(len(b), maxDumpLine)]
	i := bytes.IndexByte(b, '\n')
	if j := bytes.Index(b, []byte(`\n`)); j >= 0 && (i < 0 || j < i) {
		return j, j + 2
	}
	if i < 0 {
		return len(b), len(b)
	}
	return i, i + 1
}
