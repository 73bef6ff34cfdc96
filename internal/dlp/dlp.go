// Package dlp finds secrets in what the agent sends out: known credential
// formats and the bottle's own injected secrets, also when URL-, base64-,
// base32- or hex-encoded (nested a few layers), and high-entropy tokens in URLs.
//
// It is built for speed on code-like text: one pass splits the data into
// runs of token characters, and only the rare long run is looked at closer
// (a prefix check per known format, then its pattern; a decode when the run
// looks encoded).
package dlp

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"math"
	"net/url"
	"regexp"
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
}

var rules = []rule{
	{"anthropic-api-key", "sk-ant-", regexp.MustCompile(`sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,}`)},
	{"openai-api-key", "T3BlbkFJ", regexp.MustCompile(`sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}`)},
	{"aws-access-key-id", "AKIA", regexp.MustCompile(`(?:^|[^A-Z0-9])AKIA[0-9A-Z]{16}(?:$|[^A-Za-z0-9])`)},
	{"aws-access-key-id", "ASIA", regexp.MustCompile(`(?:^|[^A-Z0-9])ASIA[0-9A-Z]{16}(?:$|[^A-Za-z0-9])`)},
	{"github-token", "gh", regexp.MustCompile(`(?:^|[^A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{36}(?:$|[^A-Za-z0-9])`)},
	{"github-fine-grained-token", "github_pat_", regexp.MustCompile(`github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}`)},
	{"gitlab-token", "glpat-", regexp.MustCompile(`glpat-[A-Za-z0-9_-]{20}(?:$|[^A-Za-z0-9_-])`)},
	{"google-api-key", "AIza", regexp.MustCompile(`AIza[0-9A-Za-z_-]{35}(?:$|[^A-Za-z0-9_-])`)},
	{"slack-token", "xox", regexp.MustCompile(`xox[baprs]-[0-9]{10,13}-[0-9]{10,13}-?[A-Za-z0-9-]{0,40}`)},
	{"stripe-secret-key", "_live_", regexp.MustCompile(`(?:sk|rk)_live_[0-9A-Za-z]{24,}`)},
	{"npm-token", "npm_", regexp.MustCompile(`(?:^|[^A-Za-z0-9])npm_[A-Za-z0-9]{36}(?:$|[^A-Za-z0-9])`)},
	{"pypi-token", "pypi-", regexp.MustCompile(`pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}`)},
}

var (
	privateKeyMark = []byte("-----BEGIN ")
	privateKey     = regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----`)
	jwt            = regexp.MustCompile(`^eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`)
)

// Scanner scans for the known formats and for a bottle's own secrets.
type Scanner struct {
	secrets [][]byte // each secret, raw and in its encoded forms
}

// minSecret is the shortest injected secret looked for: shorter ones would
// match ordinary text.
const minSecret = 8

// New returns a scanner that also looks for these secret values.
func New(secrets []string) *Scanner {
	s := &Scanner{}
	for _, v := range secrets {
		if len(v) < minSecret {
			continue
		}
		b := []byte(v)
		s.secrets = append(s.secrets, b,
			[]byte(base64.StdEncoding.EncodeToString(b)[:len(b)*4/3]), // unpadded prefix: any alignment of padding
			[]byte(base64.URLEncoding.EncodeToString(b)[:len(b)*4/3]),
			[]byte(hex.EncodeToString(b)),
			bytes.ToUpper([]byte(hex.EncodeToString(b))),
			[]byte(url.QueryEscape(v)),
			[]byte(base32.StdEncoding.EncodeToString(b)[:len(b)*8/5]),
		)
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
	for i := 0; i < len(data); {
		start, end := nextRun(data, i)
		i = end
		if run := data[start:end]; len(run) >= entropyMinLen && !allHex(run) && entropy(run) >= entropyMin {
			return &Finding{Rule: "high-entropy-token", Where: "url"}
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
	if bytes.Contains(data, privateKeyMark) && privateKey.Match(data) {
		return &Finding{Rule: "private-key", Where: where, Encoding: enc}
	}
	for i := 0; i < len(data); {
		start, end := nextRun(data, i)
		i = end
		if end-start < 16 {
			continue
		}
		if f := s.checkRun(data, start, end, where, enc, depth); f != nil {
			return f
		}
	}
	if depth < maxDepth && bytes.IndexByte(data, '%') >= 0 {
		if u, err := url.PathUnescape(string(data)); err == nil && u != string(data) {
			return s.scan([]byte(u), where, join(enc, "url"), depth+1)
		}
	}
	return nil
}

// checkRun looks closer at one long run of token characters.
func (s *Scanner) checkRun(data []byte, start, end int, where, enc string, depth int) *Finding {
	// Known formats: a run with the prefix, with one character of context on
	// each side so the patterns can insist on a boundary.
	lo, hi := max(start-1, 0), min(end+1, len(data))
	run := data[start:end]
	for _, r := range rules {
		if bytes.Contains(run, []byte(r.prefix)) && r.re.Match(data[lo:hi]) {
			return &Finding{Rule: r.name, Where: where, Encoding: enc}
		}
	}
	if bytes.HasPrefix(run, []byte("eyJ")) && jwt.Match(data[start:min(start+8192, len(data))]) {
		return &Finding{Rule: "jwt", Where: where, Encoding: enc}
	}
	if depth >= maxDepth {
		return nil
	}
	for _, d := range decodings(run) {
		if f := s.scan(d.data, where, join(enc, d.name), depth+1); f != nil {
			return f
		}
	}
	return nil
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

func join(a, b string) string {
	if a == "" {
		return b
	}
	return b + "+" + a
}
