package dlp

// uuencode, as uuencode(1) and Python's uu module write a file: a line
// "begin MODE NAME", lines that each start with their length and hold
// three bytes in four characters from ' ' to '`', a line of no bytes,
// "end". Its characters are signs as much as letters, so no run of token
// characters holds what it encodes. The file may travel inside a JSON
// string, its line breaks and some of its characters escaped.

// encodedFile scans what the file whose first line starts with the run
// at [start, end) of five characters decodes to: uuencoded (begin) or in
// btoa's Ascii85 (xbtoa, ascii85.go).
func (s *Scanner) encodedFile(data []byte, start, end int, pl place, enc string, depth int) *Finding {
	if data[start] == 'x' {
		return s.btoaFile(data, start, pl, enc, depth)
	}
	return s.uuFile(data, start, end, pl, enc, depth)
}

// uuFile scans what the uuencoded file whose begin line starts with the
// run at [start, end) ("begin") decodes to, when that is a begin line:
// "begin", a space, a mode of three or four octal digits, a space, a name.
func (s *Scanner) uuFile(data []byte, start, end int, pl place, enc string, depth int) *Finding {
	if string(data[start:end]) != "begin" || end+5 >= len(data) || data[end] != ' ' {
		return nil
	}
	j := end + 1
	for j < len(data) && '0' <= data[j] && data[j] <= '7' {
		j++
	}
	if j-end-1 < 3 || j-end-1 > 4 || j >= len(data) || data[j] != ' ' {
		return nil
	}
	for j < len(data) && lineBreak(data[j:]) == 0 {
		j++
	}
	body := data[j:]
	if lineBreak(body) > 1 { // \n as a JSON string writes it: undo the string's escapes
		body = unescape(body[:jsonStringEnd(body)])
	}
	if d := uudecode(body); len(d) > 0 {
		return s.scan(d, pl, join(enc, "uuencoded"), depth+1)
	}
	return nil
}

// jsonStringEnd is where the JSON string that b is in ends: at its first
// quote not escaped, or b's end.
func jsonStringEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(b)
}

// uudecode decodes the lines that follow the begin line (b starts at its
// line break), up to a line that is not uuencoded.
func uudecode(b []byte) []byte {
	var out []byte
	for at := 0; at < len(b); {
		brk := lineBreak(b[at:])
		if brk == 0 {
			break
		}
		at += brk
		end := at
		for end < len(b) && b[end] != '\n' && b[end] != '\r' {
			end++
		}
		line := b[at:end]
		at = end
		if len(line) == 0 || line[0] == '`' || line[0] == ' ' {
			break // the line of no bytes, before "end"
		}
		n := int(line[0]-' ') & 63
		chars := line[1:]
		if len(chars) < (n+2)/3*4 {
			break
		}
		for k := 0; k+4 <= len(chars) && n > 0; k += 4 {
			var v uint32
			for _, c := range chars[k : k+4] {
				if c < ' ' || c > '`' {
					return out
				}
				v = v<<6 | uint32(c-' ')&63
			}
			g := []byte{byte(v >> 16), byte(v >> 8), byte(v)}
			out = append(out, g[:min(3, n)]...)
			n -= 3
		}
	}
	return out
}
