// Package dlp finds secrets in what the agent sends out: known credential
// formats, JWTs, private keys (also as JSON Web Keys) and wallet seeds,
// payment card numbers and IBANs, and the bottle's own injected secrets,
// also when URL-, base64-, base32- or hex-encoded (nested a few layers,
// any number when each is all the data), in the big-number bases
// (bases.go), escaped (JSON \u, \x, HTML's references), wrapped into
// lines, delimited (de:ad:be:ef, g.h.p), built from character codes
// (CHAR(103)+...), in ROT13, in framed Ascii85, uuencoded, dumped (xxd,
// od), in Unicode that reads as them or hides them (invisible.go), or
// reversed; cut into pieces, where they travel to a host that may be an
// attacker's (glued.go); examples and placeholders where they travel as
// credentials (position.go); and high-entropy tokens in URLs and host
// names.
//
// It is built for speed on code-like text: one pass splits the data into
// runs of token characters, and only the rare long run is looked at closer
// (a prefix check per known format, then its pattern; a decode when the run
// looks encoded). The views that undo escaping and delimiting look only at
// the stretches where those occur.
package dlp

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Finding names what was found, never the secret itself.
type Finding struct {
	Rule     string // e.g. "github-token", "injected-secret"
	Where    string // e.g. "url", "header x-foo", "body"
	Encoding string // "", "base64", "hex+base64", ...
}

var (
	privateKeyMark = []byte("-----BEGIN ")
	privateKey     = regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----`)
	puttyMark      = []byte("PuTTY-User-Key-File-")
	puttyKey       = regexp.MustCompile(`PuTTY-User-Key-File-[0-9]+: [\s\S]*Private-Lines: [0-9]+`)
)

// Scanner scans for the known formats and for a bottle's own secrets.
type Scanner struct {
	// Each secret, raw, reversed and in its encoded forms: those made of
	// token characters and long enough are looked for in long runs only
	// (where they must be), the others in the whole data.
	secrets, inRuns [][]byte
	firsts          *secretFirsts   // their first bytes, by the first (heads.go)
	off             map[string]bool // detectors turned off (Without)
	// untrusted is set for a destination the bottle holds no credential
	// for: examples and placeholders in bodies count there (position.go).
	untrusted bool
	// pieces is set for data that is pieces joined already (the split
	// watch's): the views that join pieces are off there; thorough turns
	// them on where the destination is trusted (a push).
	pieces, thorough bool
	on               loopOn
}

// loopOn says which detectors that the scan asks about on every run are
// on: set with the scanner, so the scan's loop reads the scanner rather
// than keeping a flag of its own for each (its registers are few).
type loopOn struct {
	jwt, card, iban, seed, named, glue bool
	// streak is the fewest short runs a streak of them has for the scan
	// to look closer (delimited): fewer where the glued views are on.
	streak int
}

// with sets on from off and untrusted.
func (s *Scanner) with() *Scanner {
	s.on = loopOn{jwt: !s.off["jwt"], card: !s.off["payment-card"], iban: !s.off["iban"], seed: !s.off["seed-phrase"],
		named: s.untrusted && !s.off[credentialRule], glue: (s.untrusted || s.thorough) && !s.pieces, streak: minPieces}
	if s.on.glue {
		s.on.streak = 4 // four of four bytes hold the shortest key
	}
	return s
}

// Without returns a scanner like s with these detectors turned off.
func (s *Scanner) Without(names ...string) *Scanner {
	if len(names) == 0 {
		return s
	}
	c := &Scanner{secrets: s.secrets, inRuns: s.inRuns, firsts: s.firsts, off: maps.Clone(s.off), untrusted: s.untrusted, pieces: s.pieces, thorough: s.thorough}
	if c.off == nil {
		c.off = map[string]bool{}
	}
	for _, n := range names {
		c.off[n] = true
	}
	return c.with()
}

// Untrusted returns a scanner like s for a destination the bottle holds
// no credential for: there an example key or a placeholder in a body counts
// as the key it imitates, and so does a value its name calls a credential
// (position.go). A scanner from New takes bodies as bound for a place the
// person trusts (the model's API, their own repository): examples there are
// documentation. Headers and URLs are loose places for both.
func (s *Scanner) Untrusted() *Scanner {
	c := *s
	c.untrusted = true
	return c.with()
}

// Pieces returns a scanner like s for data that is pieces joined already
// (a split watch's): the views that join pieces (glued.go) are off, since
// they would join those pieces with others into a key's format.
func (s *Scanner) Pieces() *Scanner {
	c := *s
	c.pieces = true
	return c.with()
}

// Thorough returns a scanner like s that joins pieces (glued.go) also in
// bodies it takes as bound for a trusted place: for a push, which leaves
// for a repository that may be public, and where what a scan costs is
// no request's delay.
func (s *Scanner) Thorough() *Scanner {
	c := *s
	c.thorough = true
	return c.with()
}

// Entrusted undoes Untrusted: for a destination the bottle entrusts with a
// credential (the model's API).
func (s *Scanner) Entrusted() *Scanner {
	c := *s
	c.untrusted = false
	return c.with()
}

// minSecret is the shortest injected secret looked for: shorter ones would
// match ordinary text.
const minSecret = 8

// Forms are a secret as it may travel: raw, base64 (both alphabets, at
// each of the three alignments it can have inside longer data, without the
// characters its neighbours share), hex (both cases), URL-escaped.
func Forms(secret string) [][]byte {
	b := []byte(secret)
	forms := [][]byte{b}
	for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for k := range 3 {
			enc := e.EncodeToString(append(make([]byte, k), b...))
			forms = append(forms, []byte(enc[(8*k+5)/6:8*(k+len(b))/6]))
		}
	}
	forms = append(forms, []byte(hex.EncodeToString(b)), bytes.ToUpper([]byte(hex.EncodeToString(b))),
		[]byte(url.QueryEscape(secret)), []byte(base32.StdEncoding.EncodeToString(b)[:len(b)*8/5]))
	var out [][]byte
	for _, f := range forms {
		if !slices.ContainsFunc(out, func(o []byte) bool { return bytes.Equal(o, f) }) {
			out = append(out, f)
		}
	}
	return out
}

// minLongRun is the length from which a run of token characters is looked
// at closer: no key format is shorter.
const minLongRun = 16

// New returns a scanner that also looks for these secret values.
func New(secrets []string) *Scanner {
	s := &Scanner{}
	for _, v := range secrets {
		if len(v) < minSecret {
			continue
		}
		for _, form := range append(Forms(v), reversed([]byte(v)), rot13([]byte(v))) {
			switch {
			case slices.ContainsFunc(s.secrets, func(f []byte) bool { return bytes.Equal(f, form) }),
				slices.ContainsFunc(s.inRuns, func(f []byte) bool { return bytes.Equal(f, form) }):
			case len(form) >= minLongRun && allToken(form):
				s.inRuns = append(s.inRuns, form)
			default:
				s.secrets = append(s.secrets, form)
			}
		}
	}
	s.firsts = firstsOf(s.secrets, s.inRuns)
	return s.with()
}

// maxDepth bounds nested decoding (base64 of hex of ...); percent-encoding
// applied several times counts as one.
const maxDepth = 4

// Scan returns the first secret found in data, or nil. where says where
// the data travels: "url", "header NAME", "form field NAME", "multipart
// part NAME", or a body; the place decides what an example key counts for.
func (s *Scanner) Scan(data []byte, where string) *Finding {
	pl := s.place(where)
	if f := s.scan(data, pl, "", 0); f != nil {
		return f
	}
	// A header or a field named for a credential outright, bound for a
	// host the bottle holds no credential for: its value is one, whatever
	// it looks like. (To the model's API it is the client's placeholder.)
	if v, _, _ := valueAt(data, 0); pl.strong && s.untrusted && !s.off[credentialRule] && weakSecret(v) {
		return &Finding{Rule: credentialRule, Where: where}
	}
	return nil
}

// ScanURL scans a URL, and also refuses long high-entropy tokens in it:
// a URL is where a secret of unknown format is most easily smuggled.
func (s *Scanner) ScanURL(u string) *Finding {
	data := []byte(u)
	if f := s.Scan(data, "url"); f != nil {
		return f
	}
	// A password in the URL itself (https://user:password@host/); a URL
	// has none without an @, and most have none: those go unparsed (the
	// method and each header name are scanned as URLs too).
	if strings.Contains(u, "@") && !s.off[credentialRule] {
		if p, err := url.Parse(u); err == nil && p.User != nil {
			if pw, ok := p.User.Password(); ok && pw != "" && !strings.Contains(pw, string(ownPlaceholder)) {
				return &Finding{Rule: credentialRule, Where: "url"}
			}
		}
	}
	if s.off["high-entropy-token"] {
		return nil
	}
	for i := 0; i < len(data); {
		start, end := nextRun(data, i)
		i = end
		// A query's name=value is one run; the value is what counts
		// (base64 padding aside).
		for rest, more := bytes.TrimRight(data[start:end], "="), true; more; {
			var part []byte
			part, rest, more = bytes.Cut(rest, []byte("="))
			if len(part) >= entropyMinLen && !allHex(part) && entropy(part) >= entropyMin {
				return &Finding{Rule: "high-entropy-token", Where: "url"}
			}
		}
	}
	return nil
}

const (
	entropyMinLen = 32
	entropyMin    = 4.5 // bits per character; hex tops out at 4, random base64 is near 6
)

func (s *Scanner) scan(data []byte, pl place, enc string, depth int) *Finding {
	where := pl.where
	pl.binary = binaryLooking(data)
	for _, sec := range s.secrets {
		if bytes.Contains(data, sec) {
			return &Finding{Rule: "injected-secret", Where: where, Encoding: enc}
		}
	}
	found := func(rule string) *Finding { return &Finding{Rule: rule, Where: where, Encoding: enc} }
	if depth < maxDepth && (pl.binary || Compressed(data)) {
		if f := s.scanCompressed(data, pl, enc, depth); f != nil {
			return f
		}
		if f := s.scanWide(data, pl, enc, depth); f != nil {
			return f
		}
	}
	if !s.off["private-key"] && (bytes.Contains(data, privateKeyMark) && privateKey.Match(data) ||
		bytes.Contains(data, puttyMark) && puttyKey.Match(data) || bytes.Contains(data, ktyMark) && jwkKey(data)) {
		return found("private-key")
	}
	// Seed phrases are words: a streak of short words is counted on the
	// way, looked at closer (the list, the checksum) when it ends.
	var seeds seedStreak
	// Characters spread out with delimiters (g.h.p, de:ad:be:ef, 0x67,
	// 0x68) show as a streak of short runs with short gaps: counted on the
	// way, looked at closer (sequence) when it ends.
	var sq streak
	var bg bitGroups  // groups of eight binary digits
	var cc codeStreak // character codes with a glue of words (CHAR(103)+CHAR(104))
	block := 0        // the end of a wrapped block already decoded whole
	var named *Finding
	for i := 0; i < len(data); {
		start, end := nextRun(data, i)
		i = end
		if start == end {
			break
		}
		switch n := end - start; {
		case n <= 4 && sq.n > 0 && start-sq.end <= 2:
			sq.n, sq.end = sq.n+1, end
		case n <= 4 || data[end-2] == '=' || data[end-3] == '=':
			if f := s.delimited(data, sq, pl, enc, depth); f != nil {
				return f
			}
			sq = streak{start: start, end: end, n: 1}
		default:
			if f := s.delimited(data, sq, pl, enc, depth); f != nil {
				return f
			}
			sq.n = 0
		}
		// (The gaps between the words are checked when the streak ends.)
		switch n := end - start; {
		case n >= 3 && n <= 8 && (letterIndex[data[start]]|letterIndex[data[end-1]])&0x80 == 0:
			if seeds.n > 0 && (start-seeds.end > 4 || seeds.n == maxStreak) {
				if f := s.seedPhrase(data, seeds, pl, enc); f != nil {
					return f
				}
				seeds.n = 0
			}
			if seeds.n == 0 {
				seeds.start = start
			}
			seeds.n++
			seeds.end = end
		case n <= 2 && seeds.n > 0 && !isLetter(data[start]) && start-seeds.end <= 4:
			seeds.end = end // a number before each word (1. abandon 2. ...), a dash between
		default:
			if f := s.seedPhrase(data, seeds, pl, enc); f != nil {
				return f
			}
			seeds.n = 0
		}
		if s.on.named && named == nil && (end-start >= 12 || nameFollows(data, end)) {
			if v := namedValue(data, start, end); v != nil && weakSecret(v) {
				named = found(credentialRule) // unless something more telling is found
			}
		}
		if isDigit(data[start]) {
			if at, ok := codeAt(data, start, end); ok && !cc.addCode(data, start, at) {
				if f := s.charCodes(data, cc, pl, enc, depth); f != nil {
					return f
				}
				cc = codeStreak{start: start, end: at, n: 1}
			}
		}
		if end-start < 4 {
			continue
		}
		if end-start == 5 && depth < maxDepth && (data[start] == 'b' || data[start] == 'x') {
			// begin 644 name, xbtoa Begin: a file uuencoded, or in btoa's Ascii85
			if f := s.encodedFile(data, start, end, pl, enc, depth); f != nil {
				return f
			}
		}
		if end+2 < len(data) && quoteChar[data[end]] && mayJoin(data, end, false) {
			if f := s.joinedLiterals(data, start, end, pl, enc); f != nil {
				return f
			}
		}
		if end-start == 8 && data[start] == '0' && depth < maxDepth {
			if f, ok := s.bitGroup(data, start, end, &bg, pl, enc, depth); ok {
				if f != nil {
					return f
				}
				continue
			}
		}
		if end-start >= 10 && end < len(data) && data[end] == '.' && s.on.jwt && jwtAt(data, start, end) {
			return found("jwt")
		}
		if s.on.card {
			// A number starts the run, or follows its '=' (q=4111...).
			at := start
			if !isDigit(data[at]) && end-start > 13 {
				at = start + bytes.LastIndexByte(data[start:end], '=') + 1
			}
			if at < end && isDigit(data[at]) && card(data, at) {
				return found("payment-card")
			}
		}
		if s.on.iban && isIBANStart(data[start:end]) && iban(data, start) {
			return found("iban")
		}
		if end-start < minLongRun {
			// A short line of a block wrapped into lines.
			if end < len(data) && (data[end] == '\n' || data[end] == '\r' || data[end] == '\\') && start >= block && depth < maxDepth && lineFollows(data, end) {
				f, next := s.checkWrapped(data, start, end, pl, enc, depth)
				if f != nil {
					return f
				}
				block = max(block, next)
			}
			continue
		}
		f, next := s.checkRun(data, start, end, pl, enc, depth, start < block)
		if f != nil {
			return f
		}
		block = max(block, next)
	}
	if f := s.delimited(data, sq, pl, enc, depth); f != nil {
		return f
	}
	if f := s.bits(data, bg, pl, enc, depth); f != nil {
		return f
	}
	if f := s.charCodes(data, cc, pl, enc, depth); f != nil {
		return f
	}
	if f := s.seedPhrase(data, seeds, pl, enc); f != nil {
		return f
	}
	if depth >= maxDepth {
		return named
	}
	if f := s.scanEscaped(data, pl, enc, depth); f != nil {
		return f
	}
	if f := s.scanInvisible(data, pl, enc, depth); f != nil {
		return f
	}
	if f := s.scanAscii85(data, pl, enc, depth); f != nil {
		return f
	}
	if f := s.scanShortLiterals(data, pl, enc); f != nil {
		return f
	}
	if f := s.scanDumps(data, pl, enc, depth); f != nil {
		return f
	}
	var f *Finding
	percentStretches(data, func(stretch []byte) bool {
		if u, times := percentDecode(stretch); times > 0 {
			f = s.scan(u, pl, join(enc, strings.Repeat("url+", times-1)+"url"), depth+1)
		}
		return f == nil
	})
	if f == nil {
		f = named
	}
	return f
}
