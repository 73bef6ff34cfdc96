package dlp

import (
	"bytes"
	"regexp"
	"slices"
)

// rule is a known credential format: a fixed prefix that must appear in a
// run, then a pattern checked on that run only.
type rule struct {
	name   string
	prefix string
	re     *regexp.Regexp
	rev    []byte // prefix reversed, for text sent backwards
	// lower is the pattern of the key lowercased (an AWS key ID's letters
	// are all capitals, so a lowercased one is still that key), looked for
	// where the run holds the prefix lowercased; nil for formats with both
	// cases.
	lower       *regexp.Regexp
	lowerPrefix []byte
	// rot and rotLower are the prefixes in ROT13 (a key's letters rotated
	// by 13, as Python's codecs and tr(1) do in one call).
	rot, rotLower []byte
}

var rules = []rule{
	{name: "anthropic-api-key", prefix: "sk-ant-", re: regexp.MustCompile(`sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,}`)},
	{name: "openai-api-key", prefix: "T3BlbkFJ", re: regexp.MustCompile(`sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}`)},
	{name: "aws-access-key-id", prefix: "AKIA", re: regexp.MustCompile(`(?:^|[^A-Z0-9])AKIA[0-9A-Z]{16}(?:$|[^A-Za-z0-9])`),
		lower: regexp.MustCompile(`(?:^|[^A-Za-z0-9])akia[0-9a-z]{16}(?:$|[^A-Za-z0-9])`)},
	{name: "aws-access-key-id", prefix: "ASIA", re: regexp.MustCompile(`(?:^|[^A-Z0-9])ASIA[0-9A-Z]{16}(?:$|[^A-Za-z0-9])`),
		lower: regexp.MustCompile(`(?:^|[^A-Za-z0-9])asia[0-9a-z]{16}(?:$|[^A-Za-z0-9])`)},
	{name: "github-token", prefix: "gh", re: regexp.MustCompile(`(?:^|[^A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{36}(?:$|[^A-Za-z0-9])`)},
	{name: "github-fine-grained-token", prefix: "github_pat_", re: regexp.MustCompile(`github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}`)},
	{name: "gitlab-token", prefix: "glpat-", re: regexp.MustCompile(`glpat-[A-Za-z0-9_-]{20}(?:$|[^A-Za-z0-9_-])`)},
	{name: "google-api-key", prefix: "AIza", re: regexp.MustCompile(`AIza[0-9A-Za-z_-]{35}(?:$|[^A-Za-z0-9_-])`)},
	{name: "slack-token", prefix: "xox", re: regexp.MustCompile(`xox[baprs]-[0-9]{10,13}-[0-9]{10,13}-?[A-Za-z0-9-]{0,40}`)},
	{name: "stripe-secret-key", prefix: "_live_", re: regexp.MustCompile(`(?:sk|rk)_live_[0-9A-Za-z]{24,}`)},
	{name: "npm-token", prefix: "npm_", re: regexp.MustCompile(`(?:^|[^A-Za-z0-9])npm_[A-Za-z0-9]{36}(?:$|[^A-Za-z0-9])`)},
	{name: "pypi-token", prefix: "pypi-", re: regexp.MustCompile(`pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}`)},
	{name: "huggingface-token", prefix: "hf_", re: regexp.MustCompile(`(?:^|[^A-Za-z0-9])hf_[A-Za-z]{34}(?:$|[^A-Za-z0-9])`)},
	{name: "age-secret-key", prefix: "AGE-SECRET-KEY-1", re: regexp.MustCompile(`AGE-SECRET-KEY-1[0-9A-Z]{58}`)},
	{name: "nostr-secret-key", prefix: "nsec1", re: regexp.MustCompile(`(?:^|[^a-z0-9])nsec1[02-9ac-hj-np-z]{58}`)},
}

// firstByte and secondByte mark, for each byte, the rules whose prefix
// starts with it, or has it second (bit i: rules[i]; bit 16+i: rules[i]
// written backwards; bit 32+i: rules[i] in ROT13): a run that holds no
// pair of bytes marked for one rule is not looked at for it.
var firstByte, secondByte [256]uint64

func init() {
	if len(rules) > 16 {
		panic("dlp: more rules than the prefix filter has bits for")
	}
	mark := func(p []byte, bit int) {
		firstByte[p[0]] |= 1 << bit
		secondByte[p[1]] |= 1 << bit
	}
	for i := range rules {
		r := &rules[i]
		r.rev, r.rot = reversed([]byte(r.prefix)), rot13([]byte(r.prefix))
		mark([]byte(r.prefix), i)
		mark(r.rev, 16+i)
		mark(r.rot, 32+i)
		if r.lower != nil {
			r.lowerPrefix = bytes.ToLower([]byte(r.prefix))
			r.rotLower = rot13(r.lowerPrefix)
			mark(r.lowerPrefix, i)
			mark(r.rotLower, 32+i)
		}
	}
}

// Rules are the names of the detectors a route may turn off (Without); the
// bottle's own injected secrets are always looked for.
func Rules() []string {
	names := []string{"private-key", "jwt", "high-entropy-token", "payment-card", "iban", hostLabelsRule,
		"seed-phrase", "wallet-key", credentialRule, compressedRule}
	for _, r := range rules {
		if !slices.Contains(names, r.name) {
			names = append(names, r.name)
		}
	}
	return names
}
