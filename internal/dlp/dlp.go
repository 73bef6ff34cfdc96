// Package dlp finds secrets in what the agent sends out: known credential
// formats, payment card numbers and IBANs, and the bottle's own injected
// secrets, also when URL-, base64-, base32- or hex-encoded (nested a few
// layers), escaped (JSON \u, \x), wrapped into lines, delimited (de:ad:be:ef,
// g.h.p) or reversed; and high-entropy tokens in URLs.
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
	"math"
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

// rule is a known credential format: a fixed prefix that must appear in a
// run, then a pattern checked on that run only.
type rule struct {
	name   string
	prefix string
	re     *regexp.Regexp
	rev    []byte // prefix reversed, for text sent backwards
}

var rules = []rule{
	{name: "anthropic-api-key", prefix: "sk-ant-", re: regexp.MustCompile(`sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,}`)},
	{name: "openai-api-key", prefix: "T3BlbkFJ", re: regexp.MustCompile(`sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}`)},
	{name: "aws-access-key-id", prefix: "AKIA", re: regexp.MustCompile(`(?:^|[^A-Z0-9])AKIA[0-9A-Z]{16}(?:$|[^A-Za-z0-9])`)},
	{name: "aws-access-key-id", prefix: "ASIA", re: regexp.MustCompile(`(?:^|[^A-Z0-9])ASIA[0-9A-Z]{16}(?:$|[^A-Za-z0-9])`)},
	{name: "github-token", prefix: "gh", re: regexp.MustCompile(`(?:^|[^A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{36}(?:$|[^A-Za-z0-9])`)},
	{name: "github-fine-grained-token", prefix: "github_pat_", re: regexp.MustCompile(`github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}`)},
	{name: "gitlab-token", prefix: "glpat-", re: regexp.MustCompile(`glpat-[A-Za-z0-9_-]{20}(?:$|[^A-Za-z0-9_-])`)},
	{name: "google-api-key", prefix: "AIza", re: regexp.MustCompile(`AIza[0-9A-Za-z_-]{35}(?:$|[^A-Za-z0-9_-])`)},
	{name: "slack-token", prefix: "xox", re: regexp.MustCompile(`xox[baprs]-[0-9]{10,13}-[0-9]{10,13}-?[A-Za-z0-9-]{0,40}`)},
	{name: "stripe-secret-key", prefix: "_live_", re: regexp.MustCompile(`(?:sk|rk)_live_[0-9A-Za-z]{24,}`)},
	{name: "npm-token", prefix: "npm_", re: regexp.MustCompile(`(?:^|[^A-Za-z0-9])npm_[A-Za-z0-9]{36}(?:$|[^A-Za-z0-9])`)},
	{name: "pypi-token", prefix: "pypi-", re: regexp.MustCompile(`pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}`)},
}

func init() {
	for i := range rules {
		rules[i].rev = reversed([]byte(rules[i].prefix))
	}
}

// Rules are the names of the detectors a route may turn off (Without); the
// bottle's own injected secrets are always looked for.
func Rules() []string {
	names := []string{"private-key", "jwt", "high-entropy-token", "payment-card", "iban", hostLabelsRule}
	for _, r := range rules {
		if !slices.Contains(names, r.name) {
			names = append(names, r.name)
		}
	}
	return names
}

var (
	privateKeyMark = []byte("-----BEGIN ")
	privateKey     = regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----`)
	jwt            = regexp.MustCompile(`^eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`)
)

// Scanner scans for the known formats and for a bottle's own secrets.
type Scanner struct {
	// Each secret, raw, reversed and in its encoded forms: those made of
	// token characters and long enough are looked for in long runs only
	// (where they must be), the others in the whole data.
	secrets, inRuns [][]byte
	off             map[string]bool // detectors turned off (Without)
}

// Without returns a scanner like s with these detectors turned off.
func (s *Scanner) Without(names ...string) *Scanner {
	if len(names) == 0 {
		return s
	}
	c := &Scanner{secrets: s.secrets, inRuns: s.inRuns, off: maps.Clone(s.off)}
	if c.off == nil {
		c.off = map[string]bool{}
	}
	for _, n := range names {
		c.off[n] = true
	}
	return c
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
		for _, form := range append(Forms(v), reversed([]byte(v))) {
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
	return s
}

// maxDepth bounds nested decoding (base64 of hex of ...).
const maxDepth = 3

// Scan returns the first secret found in data, or nil.
func (s *Scanner) Scan(data []byte, where string) *Finding {
	return s.scan(data, where, "", 0)
}

// ScanURL scans a URL, and also refuses long high-entropy tokens in it:
// a URL is where a secret of unknown format is most easily smuggled.
func (s *Scanner) ScanURL(u string) *Finding {
	if f := s.Scan([]byte(u), "url"); f != nil {
		return f
	}
	data := []byte(u)
	if s.off["high-entropy-token"] {
		return nil
	}
	for i := 0; i < len(data); {
		start, end := nextRun(data, i)
		i = end
		// A query's name=value is one run; the value is what counts
		// (base64 padding aside).
		for _, part := range bytes.Split(bytes.TrimRight(data[start:end], "="), []byte("=")) {
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

func (s *Scanner) scan(data []byte, where, enc string, depth int) *Finding {
	for _, sec := range s.secrets {
		if bytes.Contains(data, sec) {
			return &Finding{Rule: "injected-secret", Where: where, Encoding: enc}
		}
	}
	found := func(rule string) *Finding { return &Finding{Rule: rule, Where: where, Encoding: enc} }
	if !s.off["private-key"] && bytes.Contains(data, privateKeyMark) && privateKey.Match(data) {
		return found("private-key")
	}
	// Characters spread out with delimiters (g.h.p, de:ad:be:ef, 0x67,
	// 0x68) show as a streak of short runs with short gaps: counted on the
	// way, looked at closer (sequence) when it ends.
	var sq streak
	block := 0 // the end of a wrapped block already decoded whole
	flush := func() *Finding {
		if sq.n < minPieces || depth >= maxDepth {
			return nil
		}
		for at := sq.start; at < sq.end; {
			start, end := nextRun(data, at)
			joined, next := sequence(data, start, end)
			if joined != nil {
				if f := s.scan(joined, where, join(enc, "delimited"), depth+1); f != nil {
					return f
				}
			}
			at = next
		}
		return nil
	}
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
			if f := flush(); f != nil {
				return f
			}
			sq = streak{start: start, end: end, n: 1}
		default:
			if f := flush(); f != nil {
				return f
			}
			sq.n = 0
		}
		if end-start < 4 {
			continue
		}
		if !s.off["payment-card"] {
			// A number starts the run, or follows its '=' (q=4111...).
			at := start
			if !isDigit(data[at]) && end-start > 13 {
				at = start + bytes.LastIndexByte(data[start:end], '=') + 1
			}
			if at < end && isDigit(data[at]) && card(data, at) {
				return found("payment-card")
			}
		}
		if !s.off["iban"] && isIBANStart(data[start:end]) && iban(data, start) {
			return found("iban")
		}
		if end-start < minLongRun {
			continue
		}
		f, next := s.checkRun(data, start, end, where, enc, depth, start < block)
		if f != nil {
			return f
		}
		block = max(block, next)
	}
	if f := flush(); f != nil {
		return f
	}
	if depth >= maxDepth {
		return nil
	}
	if f := s.scanEscaped(data, where, enc, depth); f != nil {
		return f
	}
	if bytes.IndexByte(data, '%') >= 0 {
		if u, err := url.PathUnescape(string(data)); err == nil && u != string(data) {
			return s.scan([]byte(u), where, join(enc, "url"), depth+1)
		}
	}
	return nil
}

// checkRun looks closer at one long run of token characters. When the run
// starts a block wrapped into lines, it returns where the block ends; the
// block's other lines are then checked with inBlock set.
func (s *Scanner) checkRun(data []byte, start, end int, where, enc string, depth int, inBlock bool) (*Finding, int) {
	// Known formats: a run with the prefix, with one character of context on
	// each side so the patterns can insist on a boundary; also backwards.
	lo, hi := max(start-1, 0), min(end+1, len(data))
	run := data[start:end]
	for _, sec := range s.inRuns {
		if len(sec) <= len(run) && bytes.Contains(run, sec) {
			return &Finding{Rule: "injected-secret", Where: where, Encoding: enc}, end
		}
	}
	for _, r := range rules {
		if s.off[r.name] {
			continue
		}
		if bytes.Contains(run, []byte(r.prefix)) && notExample(r.re.Find(data[lo:hi])) {
			return &Finding{Rule: r.name, Where: where, Encoding: enc}, end
		}
		if bytes.Contains(run, r.rev) && notExample(r.re.Find(reversed(data[lo:hi]))) {
			return &Finding{Rule: r.name, Where: where, Encoding: join(enc, "reversed")}, end
		}
	}
	if !s.off["jwt"] && bytes.HasPrefix(run, []byte("eyJ")) && jwt.Match(data[start:min(start+8192, len(data))]) {
		return &Finding{Rule: "jwt", Where: where, Encoding: enc}, end
	}
	if depth >= maxDepth {
		return nil, end
	}
	if joined, next := wrapped(data, start, end); !inBlock && next > end {
		// A block wrapped into lines (MIME base64, PEM): decoded whole, since
		// a secret may straddle a line break.
		for _, d := range decodings(joined) {
			if f := s.scan(d.data, where, join(enc, d.name), depth+1); f != nil {
				return f, next
			}
		}
		return nil, next
	}
	if pieces := undelimit(run); pieces != nil {
		if f := s.scan(pieces, where, join(enc, "delimited"), depth+1); f != nil {
			return f, end
		}
	}
	for _, d := range decodings(run) {
		if f := s.scan(d.data, where, join(enc, d.name), depth+1); f != nil {
			return f, end
		}
	}
	return nil, end
}

type decoded struct {
	name string
	data []byte
}

// decodings returns what run decodes to, when it looks encoded.
func decodings(run []byte) []decoded {
	var out []decoded
	if len(run) >= 32 && allHex(run) {
		if d, err := hex.DecodeString(string(run[:len(run)&^1])); err == nil {
			out = append(out, decoded{"hex", d})
		}
		return out // hex is also valid base64: decoding it twice finds nothing new
	}
	if len(run) >= 24 && allBase32(run) {
		if d, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(bytes.TrimRight(run, "="))); err == nil {
			out = append(out, decoded{"base32", d})
		}
	}
	if len(run) >= 20 && looksBase64(run) {
		trimmed := bytes.TrimRight(run, "=")
		if len(trimmed)%4 == 1 { // no base64 has this length: drop the stray last character
			trimmed = trimmed[:len(trimmed)-1]
		}
		for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			if d, err := e.DecodeString(string(trimmed)); err == nil {
				out = append(out, decoded{"base64", d})
				break
			}
		}
	}
	return out
}

// tokenChar marks the bytes that make up tokens: base64 (both alphabets),
// hex, base32, and the punctuation of key formats.
var tokenChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "+/_-=" {
		t[c] = true
	}
	return t
}()

// nextRun returns the bounds of the next run of token characters at or after i.
func nextRun(data []byte, i int) (int, int) {
	for i < len(data) && !tokenChar[data[i]] {
		i++
	}
	start := i
	for i < len(data) && tokenChar[data[i]] {
		i++
	}
	return start, i
}

func allToken(b []byte) bool {
	for _, c := range b {
		if !tokenChar[c] {
			return false
		}
	}
	return true
}

func allHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func allBase32(b []byte) bool {
	for _, c := range bytes.TrimRight(b, "=") {
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// looksBase64 wants the mix of classes that encoded data has and
// identifiers (camelCase, snake_case) mostly lack: digits with both cases.
func looksBase64(b []byte) bool {
	var upper, lower, digit bool
	for _, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			upper = true
		case 'a' <= c && c <= 'z':
			lower = true
		case '0' <= c && c <= '9':
			digit = true
		case c == '=' || c == '+' || c == '/' || c == '-' || c == '_':
		default:
			return false
		}
	}
	return upper && lower && digit
}

// entropy is the Shannon entropy of b in bits per byte.
func entropy(b []byte) float64 {
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	var h float64
	n := float64(len(b))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// notExample reports whether a match is a key and not a documentation example:
// the examples vendors publish say so (AWS's AKIAIOSFODNN7EXAMPLE), and a
// real key, random, never does.
func notExample(match []byte) bool {
	return match != nil && !bytes.Contains(bytes.ToUpper(match), []byte("EXAMPLE"))
}

func reversed(b []byte) []byte {
	r := slices.Clone(b)
	slices.Reverse(r)
	return r
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return b + "+" + a
}

// Host names under a wildcard route: the labels left of the suffix are the
// agent's to choose, so they can carry data (<encoded>.example.com).
const (
	maxLabels      = 5  // labels under the suffix
	maxLabel       = 40 // characters in one label, hyphens aside
	encodedLabel   = 24 // from this length a piece is looked at for encoding
	maxSubdomain   = 100
	labelEntropy   = 3.5 // with digits among letters
	randomEntropy  = 4.2 // with or without
	hostLabelsRule = "host-labels"
)

// ScanHost looks at the part of host that a wildcard pattern (*.suffix)
// leaves free: too many or too long labels, labels that look encoded (hex,
// base32 or base64-like, high entropy), and secrets in them once joined and
// decoded. A pattern without a wildcard leaves nothing free.
func (s *Scanner) ScanHost(pattern, host string) *Finding {
	suffix, ok := strings.CutPrefix(pattern, "*.")
	if !ok {
		return nil
	}
	sub, ok := strings.CutSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), "."+suffix)
	if !ok || sub == "" {
		return nil
	}
	labels := strings.Split(sub, ".")
	if f := s.Scan([]byte(strings.Join(labels, "")), "host"); f != nil {
		return f
	}
	if s.off[hostLabelsRule] {
		return nil
	}
	bad := func() *Finding { return &Finding{Rule: hostLabelsRule, Where: "host"} }
	if len(labels) > maxLabels || len(sub) > maxSubdomain {
		return bad()
	}
	for _, l := range labels {
		for _, piece := range strings.Split(l, "-") {
			if len(piece) > maxLabel || len(piece) >= encodedLabel && looksEncoded([]byte(piece)) {
				return bad()
			}
		}
	}
	return nil
}

// looksEncoded is for lower-case host labels: hex, or letters and digits
// mixed at high entropy, or very high entropy alone.
func looksEncoded(b []byte) bool {
	digits := 0
	for _, c := range b {
		if isDigit(c) {
			digits++
		}
	}
	e := entropy(b)
	return allHex(b) && digits > 0 || digits >= 2 && e >= labelEntropy || e >= randomEntropy
}
