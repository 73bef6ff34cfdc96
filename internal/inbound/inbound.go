// Package inbound finds instructions aimed at the agent in what comes back
// into the bottle: web pages, documents, API and tool responses. An agent
// reads them as text, and a prompt injection is text that poses as its
// instructions.
//
// Text is normalized before the rules look at it: Unicode NFKC, zero-width
// and bidi characters removed, Unicode tag characters (invisible ASCII)
// decoded, Cyrillic and Greek lookalikes folded to Latin, lower case,
// spaces collapsed. What a reader does not see is looked at on its own and
// more strictly: HTML comments and hidden elements, text that only reads
// as an instruction once invisible characters are gone, base64 blocks.
//
// Rules are strong (an instruction to drop the agent's instructions, a
// fake role or system marker, a jailbreak, an order to send secrets to an
// address, to keep something from the user) or weak (addressing the AI,
// naming private key files, piping a download into a shell, "run the
// following command"). A strong rule fires anywhere; a weak one in hidden
// text, or paired with another where one of them addresses the AI or names
// private files.
package inbound

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	ahocorasick "github.com/BobuSumisu/aho-corasick"
)

// Finding names the rule that fired and where; never the text itself.
type Finding struct {
	Rule   string // e.g. "override-instructions"
	Where  string // "text", "html comment", "hidden html", "invisible characters", "base64 block", ...
	Hidden bool   // found in what a reader does not see
}

type rule struct {
	name   string
	strong bool
	starts []string       // the words a match begins with
	re     *regexp.Regexp // the rest, from one of them
}

// r builds a rule: the regexp is matched where one of its start words
// (comma-separated) is.
func r(name string, strong bool, starts, rest string) rule {
	return rule{name, strong, strings.Split(starts, ","), regexp.MustCompile(`^(?:(?:` + quoteAll(starts) + `)` + rest + `)`)}
}

func quoteAll(starts string) string {
	var q []string
	for _, s := range strings.Split(starts, ",") {
		q = append(q, regexp.QuoteMeta(s))
	}
	return strings.Join(q, "|")
}

// ruleSet is the rules, their start words in one automaton, and the
// rules each start word begins. It is built on first use, not at package
// init: every process of bottle's (the CLI, each sidecar, the agent's
// helper) paid 13 ms and 1.9 MB for it at its start, and only the proxy
// ever scans a response.
type ruleSet struct {
	rules   []rule
	starts  *ahocorasick.Trie
	byStart map[string][]int
}

var loaded = sync.OnceValue(func() *ruleSet {
	rs := &ruleSet{rules: ruleList(), byStart: map[string][]int{}}
	b := ahocorasick.NewTrieBuilder()
	for i, r := range rs.rules {
		b.AddStrings(r.starts)
		for _, s := range r.starts {
			rs.byStart[s] = append(rs.byStart[s], i)
		}
	}
	rs.starts = b.Build()
	return rs
})

// ruleList is the rules. They run on normalized text (lower case, single
// spaces).
func ruleList() []rule {
	return []rule{
		r("override-instructions", true, "ignore,disregard,forget,override,bypass,abandon,drop",
			`\b[^.!?\n:;,]{0,20}\b(all|any|your|these|those|previous|prior|above|earlier|preceding|existing|original|system|developer)\b[^.!?\n:;]{0,30}\b(instructions?|directions?|prompts?|rules|guidelines|guardrails|directives?|safety)\b`),
		r("new-instructions", true, "new,updated,real,actual,true,hidden,secret", ` (system )?(instructions?|directives?|orders|task)\s?:`),
		r("new-instructions", true, "your", ` (new|real|actual|true) (task|instructions?|goal|objective) (is|are)\b`),
		r("role-marker", true, "<|im_start|>,<|im_end|>,<|system|>,<|endoftext|>,<|assistant|>,<|user|>,[inst],[/inst],<<sys>>,<</sys>>,<system>,</system>,<system_prompt>,<admin>,<instructions>,</instructions>,<instruction>", ``),
		r("role-marker", true, "begin", ` (system|admin) (prompt|message|instructions?)\b`),
		r("role-marker", true, "<important>,</important>,<secret>,<hidden>", ``),
		r("jailbreak", true, "you are now,from now on,act as,pretend",
			`\b[^.!?\n]{0,40}\b(dan|jailbroken|unrestricted|unfiltered|uncensored|developer mode|no (rules|restrictions|limits|filters))\b`),
		r("jailbreak", true, "developer mode", ` (enabled|on)\b`),
		r("exfiltrate", true, "send,post,upload,exfiltrate,transmit,forward,leak,email,copy,submit,paste",
			`\b[^\n]{0,80}?(ssh keys?|id_(rsa|ed25519|ecdsa)|\.ssh|\.env|\.aws|credentials?|api[ _-]?keys?|secrets?|tokens?|passwords?|environment variables|env vars|private keys?|cookies?)\b[^\n]{0,60}\b(to|at|into|via)\b\s?(https?://|[a-z0-9-]+(\.[a-z0-9-]+)+/)`),
		r("hide-from-user", true, "do not,don't,never,without",
			`\b[^.!?\n]{0,20}\b(tell|telling|inform|informing|mention|mentioning|reveal|revealing|alert|alerting|notify|notifying|show|showing|asking)\b[^.!?\n]{0,25}\b(the )?(user|human|developer|operator|person|owner)\b`),
		r("address-the-ai", false, "attention,important,note,message,instruction,instructions,notice",
			`\b[^.!?\n:]{0,12}?\b((to|for) )?(the |all |any )?(ai|assistant|agent|llm|language model|claude|chatgpt|gpt|copilot|codex|gemini|bot)s?\b`),
		r("address-the-ai", false, "if you are", ` an? (ai|llm|language model|assistant|agent)\b`),
		r("address-the-ai", false, "as an ai,as an llm,as a language model", `\b[^.!?\n]{0,20}\byou (must|should|will)\b`),
		r("private-files", false, "id_rsa,id_ed25519,id_ecdsa", `($|[^.p])`), // not the .pub
		r("private-files", false, "/etc/shadow,.aws/credentials,.git-credentials,.netrc,.docker/config.json", ``),
		r("pipe-to-shell", false, "curl,wget", `\b[^\n|]{0,120}\|\s?(sudo )?(sh|bash|zsh|python3?)\b`),
		r("run-this", false, "run,execute,type,call", ` (the following|this) (command|code|script|tool)\b`),
		r("secrecy", false, "do not,don't,never", ` (mention|reveal|disclose|say|explain)\b`),
		r("secrecy", false, "sidenote,side note", ``),
		r("run-this", false, "before", ` (using|calling|answering|responding)\b[^.!?\n]{0,40}\b(read|run|call|fetch|send)\b`),
	}
}

// window is how far a rule reaches from its start word.
const window = 320

// Rules are the names of the rules, for the audit's readers and the tests.
func Rules() []string {
	var names []string
	for _, r := range loaded().rules {
		if !slices.Contains(names, r.name) {
			names = append(names, r.name)
		}
	}
	return names
}

// maxScan is how much of one response is looked at.
const maxScan = 16 << 20

// ScanHidden looks at text no person reads, such as an MCP tool's
// description that only the model sees: any rule, strong or weak, fires.
func ScanHidden(text []byte) *Finding {
	t, _ := normalize(text, false)
	if f, w := match(t); f != nil || w != nil {
		return &Finding{Rule: firstOf(f, w).Rule, Where: "text", Hidden: true}
	}
	return nil
}

// Scan looks at a response body of the given content type ("" for plain
// text) and returns what fired, or nil.
func Scan(body []byte, contentType string) *Finding {
	if len(body) > maxScan {
		body = body[:maxScan]
	}
	if contentType == "text/event-stream" {
		// Its events' text: a paragraph's lines are one, as a JSON string's.
		body, contentType = EventText(body), "text/markdown"
	}
	var visible, hidden []piece
	switch {
	case isHTML(contentType, body):
		visible, hidden = splitHTML(body)
	case contentType == "text/markdown", isYAML(contentType):
		// A paragraph's lines are one (a YAML scalar folded over lines too).
		visible = []piece{{"text", softBreaks(body), false}}
	case isXML(contentType) && (bytes.IndexByte(body, '&') >= 0 || bytes.Contains(body, cdata)):
		// (XML with neither reads as sent; the decoder costs about as
		// much as the scan)
		visible, hidden = splitXML(body)
	case isJSON(contentType):
		// As its strings read: "Ignore\nall" is two words, a string's
		// lines one paragraph.
		visible = []piece{{"text", softBreaks(jsonText(body)), false}}
	default:
		visible = []piece{{where: "text", data: body}}
	}
	if d := percentText(body); d != nil {
		hidden = append(hidden, piece{where: "percent-encoded text", data: d})
	}
	if s := jsonStrings(body); s != nil {
		// What a JSON reader decodes: letters written as \u escapes.
		visible = append(visible, piece{where: "json strings", data: s})
	}
	for _, b := range base64Blocks(body) {
		hidden = append(hidden, piece{where: "base64 block", data: b})
	}
	var weak *Finding
	for _, p := range visible {
		text, hid := normalize(p.data, false)
		f, w := match(text)
		if (f != nil || w != nil) && hid {
			// An instruction that reads only once invisible characters are
			// gone was hidden on purpose.
			if raw, _ := normalize(p.data, true); !bytes.Equal(text, raw) {
				if g, v := match(raw); g == nil && v == nil {
					return &Finding{Rule: firstOf(f, w).Rule, Where: "invisible characters", Hidden: true}
				}
			}
		}
		if f != nil {
			f.Where = p.where
			return f
		}
		if w != nil && !p.strong {
			if weak != nil && weak.Rule != w.Rule {
				return &Finding{Rule: weak.Rule + "+" + w.Rule, Where: p.where}
			}
			weak = w
			weak.Where = p.where
		}
	}
	for _, p := range hidden {
		text, _ := normalize(p.data, false)
		if f, w := match(text); f != nil || w != nil && !p.strong {
			return &Finding{Rule: firstOf(f, w).Rule, Where: p.where, Hidden: true}
		}
	}
	return nil
}

func isYAML(ct string) bool {
	return ct == "application/yaml" || ct == "application/x-yaml" || ct == "text/yaml" || ct == "text/x-yaml"
}

func isJSON(ct string) bool {
	return ct == "application/json" || strings.HasSuffix(ct, "+json") || ct == "application/x-ndjson"
}

func firstOf(a, b *Finding) *Finding {
	if a != nil {
		return a
	}
	return b
}

// match returns the first strong rule that fires in text, else a pair of
// weak ones as one strong finding, else the first weak one.
func match(text []byte) (strong, weak *Finding) {
	var weakRules []string
	rs := loaded()
	for _, m := range rs.starts.Match(text) {
		pos := int(m.Pos())
		if c := m.MatchString()[0]; isWordByte(c) && pos > 0 && isWordByte(text[pos-1]) {
			continue // inside a word
		}
		for _, i := range rs.byStart[m.MatchString()] {
			r := &rs.rules[i]
			if !r.re.Match(text[pos:min(pos+window, len(text))]) {
				continue
			}
			if r.strong {
				return &Finding{Rule: r.name}, nil
			}
			if !slices.Contains(weakRules, r.name) {
				weakRules = append(weakRules, r.name)
			}
		}
	}
	if len(weakRules) == 0 {
		return nil, nil
	}
	for i, a := range weakRules {
		for _, b := range weakRules[i+1:] {
			if pairs(a, b) {
				return &Finding{Rule: a + "+" + b}, nil
			}
		}
	}
	return nil, &Finding{Rule: weakRules[0]}
}

// pairs reports whether two weak rules together make an injection: text
// that addresses the AI and names an action, or that names private files
// and an action. Install docs that say to run a command piped into a
// shell do not.
func pairs(a, b string) bool {
	has := func(r string) bool { return a == r || b == r }
	return has("address-the-ai") || has("private-files")
}

func isWordByte(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' }

type piece struct {
	where string
	data  []byte
	// strong is set for text that only the strong rules are read in
	// (code, attributes): a weak one there says too little.
	strong bool
}

// base64Blocks decodes the long base64 runs of body that decode to text.
func base64Blocks(body []byte) [][]byte {
	var out [][]byte
	for i := 0; i < len(body) && len(out) < 64; {
		for i < len(body) && !b64Char(body[i]) {
			i++
		}
		start := i
		for i < len(body) && b64Char(body[i]) {
			i++
		}
		if i-start < 40 {
			continue
		}
		run := bytes.TrimRight(body[start:i], "=")
		for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			if d, err := e.DecodeString(string(run[:len(run)&^3])); err == nil && printable(d) {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

func b64Char(c byte) bool { return b64Chars[c] }

var b64Chars = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_") {
		t[c] = true
	}
	return t
}()

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	letters := 0
	for _, c := range b {
		if c == ' ' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			letters++
		}
	}
	return letters*10 >= len(b)*7
}
