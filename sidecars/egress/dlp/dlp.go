// Package dlp finds secrets in what the agent sends out: known credential
// formats and the bottle's own injected secrets, also when URL-, base64- or
// hex-encoded.
package dlp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"regexp"
)

// Finding names what was found, never the secret itself.
type Finding struct {
	Rule     string // e.g. "github-token", "injected-secret"
	Where    string // e.g. "url", "header x-foo", "body"
	Encoding string // "", "base64", "hex", "url"
}

type rule struct {
	name string
	re   *regexp.Regexp
}

// Known credential formats. Each is anchored on a fixed prefix, so text
// without the prefix costs one substring search per rule.
var rules = []rule{
	{"anthropic-api-key", regexp.MustCompile(`sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,}`)},
	{"openai-api-key", regexp.MustCompile(`sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}`)},
	{"aws-access-key-id", regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"github-token", regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{36}\b`)},
	{"github-fine-grained-token", regexp.MustCompile(`\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b`)},
	{"gitlab-token", regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20}\b`)},
	{"google-api-key", regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}\b`)},
	{"slack-token", regexp.MustCompile(`\bxox[baprs]-[0-9]{10,13}-[0-9]{10,13}-?[A-Za-z0-9-]{0,40}\b`)},
	{"stripe-secret-key", regexp.MustCompile(`\b(?:sk|rk)_live_[0-9A-Za-z]{24,}\b`)},
	{"npm-token", regexp.MustCompile(`\bnpm_[A-Za-z0-9]{36}\b`)},
	{"pypi-token", regexp.MustCompile(`\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}`)},
	{"private-key", regexp.MustCompile(`-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----`)},
	{"jwt", regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`)},
}

// Scanner scans for the known formats and for a bottle's own secrets.
type Scanner struct {
	secrets [][]byte // each secret, raw and in its encoded forms
}

// New returns a scanner that also looks for these secret values.
func New(secrets []string) *Scanner {
	s := &Scanner{}
	for _, v := range secrets {
		if len(v) < 8 {
			continue // too short to tell from ordinary text
		}
		b := []byte(v)
		s.secrets = append(s.secrets, b,
			[]byte(base64.StdEncoding.EncodeToString(b)),
			[]byte(base64.RawURLEncoding.EncodeToString(b)),
			[]byte(hex.EncodeToString(b)),
			[]byte(url.QueryEscape(v)),
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

var (
	b64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{24,}={0,2}`)
	hexRun = regexp.MustCompile(`\b[0-9a-fA-F]{32,}\b`)
)

func (s *Scanner) scan(data []byte, where, enc string, depth int) *Finding {
	for _, sec := range s.secrets {
		if bytes.Contains(data, sec) {
			return &Finding{Rule: "injected-secret", Where: where, Encoding: enc}
		}
	}
	for _, r := range rules {
		if r.re.Match(data) {
			return &Finding{Rule: r.name, Where: where, Encoding: enc}
		}
	}
	if depth >= maxDepth {
		return nil
	}
	if bytes.IndexByte(data, '%') >= 0 {
		if u, err := url.QueryUnescape(string(data)); err == nil && u != string(data) {
			if f := s.scan([]byte(u), where, join(enc, "url"), depth+1); f != nil {
				return f
			}
		}
	}
	for _, run := range b64Run.FindAll(data, -1) {
		if dec := decodeBase64(run); len(dec) > 0 {
			if f := s.scan(dec, where, join(enc, "base64"), depth+1); f != nil {
				return f
			}
		}
	}
	for _, run := range hexRun.FindAll(data, -1) {
		if dec, err := hex.DecodeString(string(run[:len(run)&^1])); err == nil {
			if f := s.scan(dec, where, join(enc, "hex"), depth+1); f != nil {
				return f
			}
		}
	}
	return nil
}

func decodeBase64(b []byte) []byte {
	for _, e := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if d, err := e.DecodeString(string(b)); err == nil {
			return d
		}
	}
	return nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "+" + b
}
