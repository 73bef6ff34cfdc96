package dlp

import (
	"bytes"
	"math/bits"
	"regexp"
	"strings"
)

// Where a key travels decides as much as what it looks like. A vendor's
// published example key, or a filler in a key's format (FAKE..., a
// sequence), is what documentation shows, and documentation is what an
// agent sends its model all day; the same value sent as a credential to a
// service the bottle holds no key for is someone trying the key, or
// trying the scanner. So the scanner tells two kinds of place apart:
//
//   - loose places: headers and URLs anywhere, and bodies bound for a
//     destination the bottle does not entrust with a credential
//     (Untrusted). There an example or a placeholder counts as the key it
//     imitates, and a value of no known format counts when its place names
//     it a credential (Authorization, api_key=, "secretAccessKey": ...,
//     PASSWORD=...).
//   - bodies bound for a route the bottle entrusts with a credential (the
//     model's API), or whose destination the caller does not say (a push
//     to the person's repository, a file copied in): examples are taken for
//     documentation, as before.
//
// Real keys count everywhere.

// credentialRule names a finding made by a value's place rather than its
// format.
const credentialRule = "credential"

// ownPlaceholder is in every placeholder the bottle hands the agent in
// place of a credential (egress.Placeholder, the sign-in placeholders):
// it stands for no secret, wherever the agent's client sends it.
var ownPlaceholder = []byte("bottle-placeholder")

// place is where the data being scanned travels.
type place struct {
	where string
	loose bool // examples and placeholders count, and credential names
	// named is set when the data is a credential as a whole: the value of
	// an Authorization header or of a header named for a key.
	named bool
	// strong is set when that name says so outright (strongName): then
	// any value counts, not only one that looks random.
	strong bool
	// binary is set while scanning data that looks binary.
	binary bool
}

func (s *Scanner) place(where string) place {
	p := place{where: where, loose: s.untrusted}
	if where == "url" || where == "host" {
		p.loose = true
	}
	name, ok := strings.CutPrefix(where, "header ")
	if ok {
		p.loose = true
	} else if name, ok = strings.CutPrefix(where, "form field "); !ok {
		name, ok = strings.CutPrefix(where, "multipart part ")
	}
	if ok && name != "cookie" {
		p.named, p.strong = credentialName(name), strongName(name)
	}
	return p
}

// namedValue returns the value a run at [start, end) names, when its name
// says it holds a credential outright (strongName): NAME=value in the run
// itself, or name: value, "name": "value", name = 'value' after it, an
// authentication scheme skipped (Authorization: Bearer value).
func namedValue(data []byte, start, end int) []byte {
	run := data[start:end]
	var name []byte
	at := -1
	// NAME=value is one run; the value has eight characters or more.
	i := -1
	if len(run) >= 12 {
		i = bytes.IndexByte(run, '=')
	}
	switch {
	case i > 0 && i < len(run)-1 && run[i+1] != '=':
		name, at = run[:i], start+i+1
	case len(run) >= 4 && run[len(run)-1] == '=' && run[len(run)-2] != '=' && end < len(data) && (data[end] == '"' || data[end] == '\''):
		name, at = run[:len(run)-1], end // NAME="value": the quote ends the run
	default:
		if len(run) < 3 || end < len(data) && !valueEnd[data[end]] && data[end] != ':' && data[end] != '=' {
			return nil
		}
		j := end
		if j < len(data) && (data[j] == '"' || data[j] == '\'') {
			j++
		}
		for j < len(data) && data[j] == ' ' {
			j++
		}
		if j >= len(data) || data[j] != ':' && data[j] != '=' || j+1 < len(data) && data[j+1] == '=' {
			return nil // no separator, or == and := of code
		}
		name, at = run, j+1
	}
	if !strongEnding(name) || !strongName(string(name)) {
		return nil
	}
	v, quoted, term := valueAt(data, at)
	if !quoted && (term == '(' || term == '[' || term == '{' || dottedName(v)) {
		return nil // code: a call, an index, a field (password: cfg.Password)
	}
	return v
}

// dottedName reports whether v is a name with dots: code, not a value.
func dottedName(v []byte) bool {
	parts := bytes.Split(v, []byte{'.'})
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || isDigit(p[0]) || bytes.ContainsAny(p, "-+/=") {
			return false
		}
	}
	return true
}

// valueAt is the value that starts at data[at] (after spaces and a quote),
// up to what ends a value in the formats it travels in; an authentication
// scheme before it is skipped.
func valueAt(data []byte, at int) (v []byte, quoted bool, term byte) {
	for range 2 {
		for at < len(data) && (data[at] == ' ' || data[at] == '\t' || data[at] == '"' || data[at] == '\'') {
			quoted = quoted || data[at] != ' ' && data[at] != '\t'
			at++
		}
		end := at
		for end < len(data) && end-at < 256 && !valueEnd[data[end]] {
			end++
		}
		v, term = data[at:end], 0
		if end < len(data) {
			term = data[end]
		}
		switch strings.ToLower(string(v)) {
		case "bearer", "basic", "token", "bot", "digest":
			at = end
			continue
		}
		return v, quoted, term
	}
	return nil, quoted, term
}

// valueEnd marks the bytes that end a value: white space, quotes, and the
// separators of queries, cookies, JSON and markup.
var valueEnd = func() (t [256]bool) {
	for _, c := range " \t\r\n\"'`&;,{}[]()<>\\" {
		t[c] = true
	}
	return t
}()

// weakSecret reports whether v, found where a credential is named
// outright, is one: any value of eight characters or more (a password, a
// test token, a placeholder of x's), but a template's reference
// (${TOKEN}, <your key>, {{ .Token }}, %s) or the bottle's own placeholder.
func weakSecret(v []byte) bool {
	if len(v) < 8 || bytes.Contains(v, ownPlaceholder) {
		return false
	}
	switch v[0] {
	case '$', '<', '{', '%', '*', '[':
		return false
	}
	return true
}

// pageToken are the words before "token" in names whose token is a place
// in a listing or a form's guard, handed out by the server: no credential.
var pageToken = map[string]bool{"page": true, "next": true, "continuation": true, "sync": true, "cursor": true,
	"resume": true, "pagination": true, "prev": true, "previous": true, "start": true, "csrf": true, "xsrf": true}

// looseRules match the fillers of each format: the format's prefix, then
// enough of its alphabet, with the punctuation fillers use.
var looseRules = []rule{
	{name: "anthropic-api-key", prefix: "sk-ant-", re: regexp.MustCompile(`sk-ant-[A-Za-z0-9_-]{16,}`)},
	{name: "openai-api-key", prefix: "sk-", re: regexp.MustCompile(`(?:^|[^A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}`)},
	{name: "github-token", prefix: "gh", re: regexp.MustCompile(`(?:^|[^A-Za-z0-9])gh[pousr]_[A-Za-z0-9_-]{30,}`)},
	{name: "github-fine-grained-token", prefix: "github_pat_", re: regexp.MustCompile(`github_pat_[A-Za-z0-9_-]{30,}`)},
	{name: "gitlab-token", prefix: "glpat-", re: regexp.MustCompile(`glpat-[A-Za-z0-9_-]{16,}`)},
	{name: "google-api-key", prefix: "AIza", re: regexp.MustCompile(`AIza[0-9A-Za-z_-]{30,}`)},
	{name: "slack-token", prefix: "xox", re: regexp.MustCompile(`xox[abprs]-[0-9A-Za-z-]{10,}`)},
	{name: "stripe-secret-key", prefix: "_test_", re: regexp.MustCompile(`(?:^|[^A-Za-z0-9])[rs]k_test_[0-9A-Za-z_-]{16,}`)},
	{name: "stripe-secret-key", prefix: "_live_", re: regexp.MustCompile(`(?:^|[^A-Za-z0-9])[rs]k_live_[0-9A-Za-z_-]{16,}`)},
	{name: "npm-token", prefix: "npm_", re: regexp.MustCompile(`(?:^|[^A-Za-z0-9])npm_[A-Za-z0-9_-]{30,}`)},
	{name: "pypi-token", prefix: "pypi-", re: regexp.MustCompile(`pypi-[A-Za-z0-9_-]{30,}`)},
	{name: "huggingface-token", prefix: "hf_", re: regexp.MustCompile(`(?:^|[^A-Za-z0-9])hf_[A-Za-z0-9_-]{30,}`)},
}

// firstLoose and secondLoose mark, for each byte, the loose rules whose
// prefix starts with it or has it second (as firstByte for the rules).
var firstLoose, secondLoose [256]uint16

func init() {
	if len(looseRules) > 16 {
		panic("dlp: more loose rules than the prefix filter has bits for")
	}
	for i, r := range looseRules {
		firstLoose[r.prefix[0]] |= 1 << i
		secondLoose[r.prefix[1]] |= 1 << i
	}
}

// looseKey looks for a filler in a key's format in the run at [start, end).
func (s *Scanner) looseKey(data []byte, start, end int) string {
	lo, hi := max(start-1, 0), min(end+1, len(data))
	run := data[start:end]
	var cand uint16
	for i := 0; i+1 < len(run); i++ {
		cand |= firstLoose[run[i]] & secondLoose[run[i+1]]
	}
	for ; cand != 0; cand &= cand - 1 {
		r := &looseRules[bits.TrailingZeros16(cand)]
		if len(s.off) > 0 && s.off[r.name] || !bytes.Contains(run, []byte(r.prefix)) {
			continue
		}
		if m := r.re.Find(data[lo:hi]); m != nil && !bytes.Contains(m, ownPlaceholder) {
			return r.name
		}
	}
	return ""
}

// example reports whether a key-shaped match is a documentation example or
// a filler: it says so (EXAMPLE, FAKE, ...), or its characters are too few
// or in sequence for a random key.
func example(match []byte) bool {
	up := bytes.ToUpper(match)
	for _, w := range exampleWords {
		if bytes.Contains(up, w) {
			return true
		}
	}
	var seen [256]bool
	distinct, ascending := 0, 0
	for i, c := range match {
		if !seen[c] {
			seen[c], distinct = true, distinct+1
		}
		if i > 0 && c == match[i-1]+1 {
			ascending++
		}
	}
	return distinct < 8 || ascending*2 >= len(match)
}

var exampleWords = [][]byte{[]byte("EXAMPLE"), []byte("FAKE"), []byte("DUMMY"), []byte("SAMPLE"),
	[]byte("PLACEHOLDER"), []byte("XXXX"), []byte("REDACTED"), []byte("CHANGEME"), []byte("YOUR")}

// keyLike reports whether v could be a secret of no known format: long
// enough, and random the way keys are, its letters and digits (or its
// cases) alternating often, where names and words (oauth2-device-flow,
// account123) change class once or twice.
func keyLike(v []byte) bool {
	if len(v) < minLongRun || bytes.Contains(v, ownPlaceholder) {
		return false
	}
	switches, last := 0, byte(0)
	var digit, upper, lower bool
	for _, c := range v {
		var class byte
		switch {
		case isDigit(c):
			class, digit = 'd', true
		case isUpper(c):
			class, upper = 'u', true
		case 'a' <= c && c <= 'z':
			class, lower = 'l', true
		default:
			continue
		}
		if last != 0 && class != last {
			switches++
		}
		last = class
	}
	return (upper || lower) && (digit || upper && lower) && switches >= 4 && entropy(v) >= 3
}

// credentialValue reports whether the run at [start, end) is a value that
// its place names a credential: the place as a whole (an Authorization
// header), or the name before it (NAME=value in the run itself, or
// name: value, "name": "value", name = 'value' just before it).
func credentialValue(data []byte, start, end int, p place) bool {
	run := data[start:end]
	value := run
	var name []byte
	if i := bytes.IndexByte(bytes.TrimRight(run, "="), '='); i >= 0 {
		name, value = run[:i], run[i+1:]
	}
	// The name first: it rules out most runs at less cost than keyLike.
	if !p.named {
		if name == nil {
			name = nameBefore(data, start)
		}
		if name == nil || !credentialName(string(name)) {
			return false
		}
	}
	return keyLike(value)
}

// counts reports whether a match of a known format counts as a key here:
// a real key everywhere, an example or a filler only in a loose place.
func (s *Scanner) counts(match []byte, pl place) bool {
	if match == nil {
		return false
	}
	if pl.loose {
		return !bytes.Contains(match, ownPlaceholder)
	}
	return !example(match)
}
