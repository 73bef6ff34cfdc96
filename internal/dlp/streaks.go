package dlp

// delimited looks closer at a streak of short runs when it ends: the
// delimited sequences in it, joined, are scanned, and the groups a key
// may be cut into (glued.go). It is small enough to be inlined, so the
// many short streaks cost no call.
func (s *Scanner) delimited(data []byte, k streak, pl place, enc string, depth int) *Finding {
	if k.n < s.on.streak {
		return nil
	}
	return s.delimitedIn(data, k, pl, enc, depth)
}

func (s *Scanner) delimitedIn(data []byte, k streak, pl place, enc string, depth int) *Finding {
	// (Each gap is a byte at least: the pieces of a shorter streak hold
	// fewer characters than any secret looked for.)
	if depth >= maxDepth || k.end-k.start < minSecret-1+k.n {
		return nil
	}
	for at := k.start; at < k.end && k.n >= minPieces; {
		start, end := nextRun(data, at)
		joined, octal, next := sequence(data, start, end)
		if joined != nil {
			if f := s.scan(joined, pl, join(enc, "delimited"), depth+1); f != nil {
				return f
			}
		}
		if octal != nil {
			if f := s.scan(octal, pl, join(enc, "octal"), depth+1); f != nil {
				return f
			}
		}
		at = next
	}
	if !s.on.glue {
		return nil
	}
	return s.groups(data, k.start, k.end, k.n, pl, enc, depth)
}

// seedPhrase looks closer at a streak of short words when it ends (the
// list, the checksum); inlined, as delimited.
func (s *Scanner) seedPhrase(data []byte, k seedStreak, pl place, enc string) *Finding {
	if k.n < minSeed || !s.on.seed {
		return nil
	}
	return s.seedPhraseIn(data, k, pl, enc)
}

func (s *Scanner) seedPhraseIn(data []byte, k seedStreak, pl place, enc string) *Finding {
	var idx [maxStreak + 8]int // on the stack: streaks are many in prose
	if ok, ex := seedPhrase(seedIndices(idx[:0], data, k.start, k.end)); ok && (!ex || pl.loose) {
		return &Finding{Rule: "seed-phrase", Where: pl.where, Encoding: enc}
	}
	return nil
}

// nameFollows reports whether what follows the run that ends at data[end]
// may lead to its value: key: ..., "key": ..., key = ..., NAME="..." (as
// namedValue reads them; KEY=... is a run of its own). A quote alone is not
// enough: every string in code ends with one.
func nameFollows(data []byte, end int) bool {
	if end+1 >= len(data) {
		return false
	}
	switch c, d := data[end], data[end+1]; c {
	case ':':
		return true
	case '"', '\'':
		return d == ':' || d == '=' || d == ' ' || data[end-1] == '='
	case ' ':
		return d == ':' || d == '='
	}
	return false
}

// seedGap reports whether what lies between two words keeps them in one
// phrase: up to four signs and spaces (a space, a line break, a comma and
// the quotes of a list, a dash), no letter or digit.
func seedGap(gap []byte) bool {
	if len(gap) == 0 || len(gap) > 4 {
		return false
	}
	for _, c := range gap {
		if isAlnum(c) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return letterIndex[c] != 255 }

// bits scans what a stretch of bit groups stands for, when it is long
// enough to hold a key; inlined, as delimited.
func (s *Scanner) bits(data []byte, g bitGroups, pl place, enc string, depth int) *Finding {
	if g.n < minLongRun {
		return nil
	}
	return s.scan(groupedBits(data, g), pl, join(enc, "binary"), depth+1)
}

// bitGroup adds the run at [start, end) to the bit groups g when it is
// one (ok), scanning the groups before it when it starts new ones.
func (s *Scanner) bitGroup(data []byte, start, end int, g *bitGroups, pl place, enc string, depth int) (f *Finding, ok bool) {
	if _, ok := binaryByte(data[start:end]); !ok {
		return nil, false
	}
	if g.n == 0 || start-g.end > 2 {
		f = s.bits(data, *g, pl, enc, depth)
		*g = bitGroups{start: start}
	}
	g.n, g.end = g.n+1, end
	return f, true
}

// joinedLiterals looks for a known format in what the literal that ends
// with the run at [start, end) makes with the literals joined to it.
func (s *Scanner) joinedLiterals(data []byte, start, end int, pl place, enc string) *Finding {
	joined, _, ok := joinedLiteral(data, start, end)
	if !ok {
		return nil
	}
	return s.knownFormat(joined, 0, len(joined), pl, join(enc, "joined"))
}

// charCodes scans what a streak of character codes stands for, when it
// is long enough to hold a key; inlined, as delimited.
func (s *Scanner) charCodes(data []byte, k codeStreak, pl place, enc string, depth int) *Finding {
	if k.n < minPieces || depth >= maxDepth {
		return nil
	}
	return s.charCodesIn(data, k, pl, enc, depth)
}

func (s *Scanner) charCodesIn(data []byte, k codeStreak, pl place, enc string, depth int) *Finding {
	return s.scan(codes(data, k), pl, join(enc, "char codes"), depth+1)
}
