package dlp

import "bytes"

// Character codes: a string built from its bytes' numbers, as languages
// write it with a call per character (SQL's CHAR(103)+CHAR(104), Oracle's
// CHR(103)||CHR(104), Python's chr(103) + chr(104), Perl's chr(103).chr(104),
// PowerShell's [char]103+[char]104, JavaScript's String.fromCharCode(103)+
// ...). What they share is the shape: numbers of a byte each (decimal, or
// 0xHH), the same glue between each two. The glues of one or two signs
// (103,104 or 0x67, 0x68) are the delimited sequences' (sequence); this
// view takes the longer ones, which carry a word.

// maxGlue is the longest glue between two codes: a call's name and its
// parentheses, with spaces and an operator.
const maxGlue = 32

// codeStreak is a stretch of codes with one glue: the first code's start,
// the last one's end, how many, and where the first glue is and its length.
type codeStreak struct{ start, end, n, glueAt, glue int }

// codeAt returns the end of the code the run at [start, end) starts
// with, and whether it starts with one: one to three decimal digits, or
// 0x and one or two hex digits, of a byte's value, followed in the run by
// signs only (PowerShell's 103+ is one run).
func codeAt(data []byte, start, end int) (int, bool) {
	i := start
	if end-start >= 3 && data[i] == '0' && data[i+1] == 'x' {
		i += 2
		for i < end && i-start < 4 && isHex(data[i]) {
			i++
		}
		if i == start+2 {
			return 0, false
		}
	} else {
		v := 0
		for i < end && i-start < 3 && isDigit(data[i]) {
			v = v*10 + int(data[i]-'0')
			i++
		}
		if i == start || v > 255 {
			return 0, false
		}
	}
	for k := i; k < end; k++ {
		if isAlnum(data[k]) {
			return 0, false
		}
	}
	return i, true
}

// addCode adds the code at [start, at) to k when its glue is k's, and
// reports whether it did; when it did not, k is left for the caller to
// look at and start again.
func (k *codeStreak) addCode(data []byte, start, at int) bool {
	g := start - k.end
	switch {
	case k.n == 0, g < 3, g > maxGlue:
		return false
	case k.n == 1:
		k.glueAt, k.glue = k.end, g
	case g != k.glue || !bytes.Equal(data[k.end:start], data[k.glueAt:k.glueAt+g]):
		return false
	}
	k.n, k.end = k.n+1, at
	return true
}

// codes is the bytes a streak of codes stands for.
func codes(data []byte, k codeStreak) []byte {
	out := make([]byte, 0, k.n)
	for at := k.start; at < k.end; {
		s, e := nextRun(data, at)
		at = e
		if c, ok := codeAt(data, s, e); ok && (s == k.start || s-k.glue >= k.start && bytes.Equal(data[s-k.glue:s], data[k.glueAt:k.glueAt+k.glue])) {
			out = append(out, codeValue(data[s:c]))
		}
	}
	return out
}

// codeValue is the byte a code (decimal, or 0xHH) stands for.
func codeValue(c []byte) byte {
	if len(c) > 2 && c[1] == 'x' {
		v := byte(0)
		for _, d := range c[2:] {
			v = v<<4 | unhex(d)
		}
		return v
	}
	v := 0
	for _, d := range c {
		v = v*10 + int(d-'0')
	}
	return byte(v)
}
