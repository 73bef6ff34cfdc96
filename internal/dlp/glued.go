package dlp

import "bytes"

// A key cut into pieces with one glue between each two: groups with a
// space or a sign between (license keys, hex in groups, base64 in
// groups), a key in two halves, a header folded over two lines; or cut by
// a sign that is a key's character itself (AKIAQ-X4TZ7-..., hex as
// UUIDs). The pieces joined are the key, with whatever came before and
// after it in the same shape. So the joined pieces are scanned from where
// a secret may begin whole in them (a known format's beginning, raw or
// encoded, one of the bottle's secrets' first bytes), up to each piece's
// end in reach, as a format's pattern wants the key's end where a piece
// ends.
//
// What is looked at closer comes from what the scan counts on its way at
// no cost of its own (a pass of its own over the data, tried, cost a
// quarter of the scan's time and more): a streak of short runs with short
// gaps (groups of up to four, the delimited sequences' streak), most of
// them a random string's pieces and the last two gaps the same; a long
// run that holds a beginning and is followed by a short gap and another
// random piece (halves); a long run with signs in it. Groups of five to
// fifteen characters with a space between are not looked for.
//
// These views (and the short literals', joined.go) are made for a
// destination the bottle holds no credential for (Untrusted: a paste site,
// a wildcard's hosts, an MCP server), where what is sent goes to whoever
// runs it. They cost such a body a fifth of the scan's time more
// (measured on code, with the bases' views); bodies bound for the model's
// API, most of what the proxy scans, are spared it. They are off in the split watch's scans
// too (Pieces), whose fragments joined already they would join with
// others into a key's format.

// randomPiece reports whether a piece has a digit, or a capital after a
// small letter: most pieces of a random string (85% of four characters of
// base62, all but 2% of hex) and few words.
func randomPiece(b []byte) bool {
	lower := false
	for _, c := range b {
		switch charClass[c] {
		case 1:
			return true
		case 2:
			lower = true
		case 3:
			if lower {
				return true
			}
		}
	}
	return false
}

// groupsEnd reports whether data[start:end] ends as a tool's groups do,
// as a first look: its last two gaps between runs the same (one glue; a
// line break, where lines of groups end, is as good), one of its last two
// runs a random string's piece.
func groupsEnd(data []byte, start, end int) bool {
	var gaps [2][]byte
	random := false
	at := end
	for i := range gaps {
		r := at
		for at > start && tokenChar[data[at-1]] {
			at--
		}
		random = random || randomPiece(data[at:r])
		g := at
		for at > start && !tokenChar[data[at-1]] {
			at--
		}
		if at == start {
			return false
		}
		gaps[i] = data[at:g]
	}
	return random && (bytes.Equal(gaps[0], gaps[1]) || bytes.IndexByte(gaps[0], '\n') >= 0 || bytes.IndexByte(gaps[1], '\n') >= 0)
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// charClass is a byte's class: 1 a digit, 2 a small letter, 3 a capital,
// 0 anything else.
var charClass = func() (c [256]byte) {
	for b := '0'; b <= '9'; b++ {
		c[b] = 1
	}
	for b := 'a'; b <= 'z'; b++ {
		c[b] = 2
	}
	for b := 'A'; b <= 'Z'; b++ {
		c[b] = 3
	}
	return c
}()

// gluedReach is how far past where a secret may begin the pieces are
// joined: longer than any key format, or its hex.
const gluedReach = 320

// groups scans a streak of n short runs in data[start:end] (and the run
// right before it, where a key's beginning may be) as glued pieces, when
// it may hold a key and most of its runs are a random string's pieces.
func (s *Scanner) groups(data []byte, start, end, n int, pl place, enc string, depth int) *Finding {
	if end-start-(n-1) < minLongRun || !groupsEnd(data, start, end) {
		return nil // (each gap is a byte at least)
	}
	unmarked, letters := 0, false
	for at := start; at < end; {
		rs, re := nextRun(data, at)
		if rs >= end {
			break
		}
		at = re
		if !randomPiece(data[rs:re]) {
			if unmarked++; 2*unmarked > n {
				return nil
			}
		}
		letters = letters || !allDigits(data[rs:re])
	}
	if !letters {
		return nil // numbers: a table's, a list's
	}
	if b := start - 1; b > 0 && start-b <= 2 {
		for b > 0 && !tokenChar[data[b]] && start-b <= 2 {
			b--
		}
		for b > 0 && tokenChar[data[b-1]] && start-b < gluedReach {
			b--
		}
		if tokenChar[data[b]] {
			start = b
		}
	}
	return s.gluedFrom(data, start, end, pl, enc, depth)
}

// cutShort scans the long run at [start, end), when a beginning is in
// it, with the runs after it that have one glue of one or two bytes
// before each, as glued pieces: a key in halves, or a header folded.
func (s *Scanner) cutShort(data []byte, start, end int, pl place, enc string, depth int) *Finding {
	if !s.on.glue || end+2 >= len(data) {
		return nil
	}
	g := 1
	if !tokenChar[data[end+1]] {
		g = 2
	}
	// The next piece is a random string's too, four bytes or more (not a
	// call's argument, a field's name).
	if next := skipRun(data, end+g); next-(end+g) < 4 || !randomPiece(data[end+g:next]) || !s.HoldsBeginning(data[start:end]) {
		return nil
	}
	glue := data[end : end+g]
	at := end
	for at+g < len(data) && at-start < 2*gluedReach && bytes.Equal(data[at:at+g], glue) && tokenChar[data[at+g]] {
		at = skipRun(data, at+g)
	}
	return s.gluedFrom(data, start, at, pl, enc, depth)
}

// gluedFrom joins the runs in data[start:end] and scans them as pieces.
func (s *Scanner) gluedFrom(data []byte, start, end int, pl place, enc string, depth int) *Finding {
	joined := make([]byte, 1, end-start+1)
	joined[0] = '\n' // a boundary before the first piece, as a format's pattern wants
	var ends []int
	for at := start; at < end; {
		rs, re := nextRun(data, at)
		if rs >= end {
			break
		}
		joined = append(joined, data[rs:re]...)
		ends = append(ends, len(joined))
		at = re
	}
	return s.scanPieces(joined, ends, pl, join(enc, "glued"), depth)
}

// scanPieces scans pieces joined (after a line break, joined[0]) from each
// place a secret may begin whole, to the end of each piece in reach
// (ends): the pieces after the one it begins in as wide as the first of
// them, the last as wide or narrower, as a tool cuts a string into
// groups, and what the window holds from the beginning random the way
// keys are (keyLike). Pieces of other widths, or words, would make a
// key's format out of a key's first half and whatever came next.
func (s *Scanner) scanPieces(joined []byte, ends []int, pl place, enc string, depth int) *Finding {
	var f *Finding
	s.beginningsIn(joined, func(at, back int) bool {
		from := max(1, at-back)
		i := 0
		for i < len(ends) && ends[i] <= at {
			i++
		}
		if i+1 >= len(ends) {
			return true
		}
		width := ends[i+1] - ends[i]
		for i++; i < len(ends) && ends[i]-at <= gluedReach; i++ {
			w := ends[i] - ends[i-1]
			if w > width {
				break
			}
			if e := ends[i]; e-at >= minLongRun && keyLike(joined[at:e]) {
				window := joined[from-1 : e]
				saved := window[0]
				window[0] = '\n'
				f = s.scan(window, pl, enc, depth+1)
				window[0] = saved
				if f != nil {
					return false
				}
			}
			if w < width {
				break
			}
		}
		return true
	})
	return f
}

// hexText reports whether the hex digits of run, sign aside, stand for
// text: their first bytes at least (a key, and its name before it).
func hexText(run []byte, sign byte) bool {
	var b [16]byte
	n, half := 0, -1
	for _, c := range run {
		if c == sign {
			continue
		}
		if half < 0 {
			half = int(unhex(c))
			continue
		}
		b[n], half, n = byte(half<<4)|unhex(c), -1, n+1
		if n == len(b) {
			break
		}
	}
	return text(b[:n])
}

// signSplit scans a run cut into pieces by a sign that is a token
// character itself (AKIAQ-X4TZ7-..., hex as UUIDs, A/K/I/A/...): the run
// without it as glued pieces, when most pieces are a random string's;
// hex so cut is decoded whole.
func (s *Scanner) signSplit(run []byte, pl place, enc string, depth int) *Finding {
	if !s.on.glue {
		return nil
	}
	var signs [5]int
	for _, c := range run {
		switch c {
		case '-':
			signs[0]++
		case '/':
			signs[1]++
		case '+':
			signs[2]++
		case '=':
			signs[3]++
		case '_':
			signs[4]++
		}
	}
	for i, c := range []byte("-/+=_") {
		if signs[i] == 0 {
			continue
		}
		pieces, marked, hex, short := 0, 0, true, true
		for p := range bytes.SplitSeq(run, []byte{c}) {
			if len(p) > 0 {
				pieces++
				if randomPiece(p) {
					marked++
				}
				hex = hex && allHex(p)
				short = short && len(p) <= 2
			}
		}
		// Hex that stands for text (hex as UUIDs; random ids are not
		// text), or a character or two at a time (A/K/I/A/...), is
		// scanned whole.
		hex = hex && len(run)-signs[i] >= 32 && hexText(run, c)
		whole := hex || short && pieces >= minPieces
		if pieces < 2 || !whole && 2*marked < pieces {
			continue
		}
		joined := make([]byte, 1, len(run)+1)
		joined[0] = '\n'
		ends := make([]int, 0, pieces)
		for p := range bytes.SplitSeq(run, []byte{c}) {
			if len(p) > 0 {
				joined = append(joined, p...)
				ends = append(ends, len(joined))
			}
		}
		if whole {
			if f := s.scan(joined, pl, join(enc, "split"), depth+1); f != nil {
				return f
			}
			continue
		}
		if f := s.scanPieces(joined, ends, pl, join(enc, "split"), depth); f != nil {
			return f
		}
	}
	return nil
}

// ScanPieces scans the values a request carries side by side in one place
// (its cookies, its query's values, in the order sent) as glued pieces: a
// key cut into them, the pieces from where it begins as wide as each
// other. A value that is a key itself is the Scan of that value's to find.
func (s *Scanner) ScanPieces(pieces [][]byte, where string) *Finding {
	if len(pieces) < 2 {
		return nil
	}
	n := 1
	for _, p := range pieces {
		n += len(p)
	}
	joined := make([]byte, 1, n)
	joined[0] = '\n'
	ends := make([]int, 0, len(pieces))
	for _, p := range pieces {
		joined = append(joined, p...)
		ends = append(ends, len(joined))
	}
	return s.scanPieces(joined, ends, s.place(where), "", 0)
}
