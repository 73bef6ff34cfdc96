// Package corpus reads the egress corpora: attacks an agent could try and
// benign traffic an agent really sends, one case per txtar archive. A
// case's comment says what it is and what is expected; its files are raw
// HTTP/1.1 requests ("request", or "request1", "request2", ... sent in
// order) and, for what comes back, the upstream's raw response
// ("response"). Requests are text/template templates: fake secrets and
// encoders (base64, gzip, chunked, ...) are filled in when the case is
// read, so no file holds a key a scanner would flag, and binary bodies
// stay readable.
//
// Comment lines of the form "key: value" are settings:
//
//	expect: allow block   what happens to each request, in order
//	                      (default: an attack's last request is blocked,
//	                      the ones before it allowed; benign ones allowed)
//	why: github-token     what the reason for the block must say
//	class: encodings      the kind of case, for the figures per class
//	                      (default: the first word of its file name)
//	inbound: blocked      what the agent gets of the response: blocked (an
//	                      explanation in its place), marked (with a warning),
//	                      or, without the setting, the response as sent
package corpus

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/bottle-sandbox/bottle/internal/dlp"
	"golang.org/x/tools/txtar"
)

// Case is one corpus entry, its templates filled in.
type Case struct {
	Name     string // kind/file, without .txtar
	Attack   bool
	About    string
	Expect   []string // "allow" or "block", one per request
	Why      string   // what the reason for a block must say, if set
	Class    string   // the kind of case ("encodings", "host-names", ...)
	Inbound  string   // what the agent gets of the response: "blocked", "marked" or "" (as sent)
	Requests [][]byte
	Response []byte // nil: the upstream answers 200 "ok"
}

// Load reads every case under dir/attack and dir/benign. injected is the
// bottle secret the cases' routes carry (.Injected in a template).
func Load(dir, injected string) ([]Case, error) {
	var cases []Case
	for _, kind := range []string{"attack", "benign"} {
		files, err := filepath.Glob(filepath.Join(dir, kind, "*.txtar"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			c, err := load(f, kind == "attack", injected)
			if err != nil {
				return nil, err
			}
			c.Name = kind + "/" + strings.TrimSuffix(filepath.Base(f), ".txtar")
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("no corpus cases under %s", dir)
	}
	return cases, nil
}

func load(path string, attack bool, injected string) (Case, error) {
	a, err := txtar.ParseFile(path)
	if err != nil {
		return Case{}, err
	}
	c := Case{Attack: attack}
	var about []string
	for _, line := range strings.Split(string(a.Comment), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && (k == "expect" || k == "why" || k == "inbound" || k == "class") {
			switch k {
			case "expect":
				c.Expect = strings.Fields(v)
			case "why":
				c.Why = v
			case "class":
				c.Class = v
			default:
				c.Inbound = v
			}
			continue
		}
		about = append(about, line)
	}
	c.About = strings.TrimSpace(strings.Join(about, "\n"))
	data := Fakes(injected)
	fm := template.FuncMap{
		// file is a body kept beside the cases, in bodies/.
		"file": func(name string) (string, error) {
			b, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(path)), "bodies", name))
			return string(b), err
		},
	}
	for _, f := range a.Files {
		// txtar ends every file with a newline; the message is what comes before it.
		out, err := expand(path+":"+f.Name, strings.TrimSuffix(string(f.Data), "\n"), data, fm)
		if err != nil {
			return Case{}, err
		}
		switch {
		case f.Name == "response":
			c.Response = rawMessage(out)
		case f.Name == "request" || strings.HasPrefix(f.Name, "request"):
			c.Requests = append(c.Requests, rawMessage(out))
		default:
			return Case{}, fmt.Errorf("%s: unknown file %q in the archive", path, f.Name)
		}
	}
	if len(c.Requests) == 0 {
		return Case{}, fmt.Errorf("%s: no request", path)
	}
	if c.Expect == nil {
		for i := range c.Requests {
			if attack && i == len(c.Requests)-1 {
				c.Expect = append(c.Expect, "block")
			} else {
				c.Expect = append(c.Expect, "allow")
			}
		}
	}
	if c.Class == "" { // the first word of its name: inbound-..., split-...
		c.Class, _, _ = strings.Cut(strings.TrimSuffix(filepath.Base(path), ".txtar"), "-")
	}
	if c.Inbound != "" && c.Inbound != "blocked" && c.Inbound != "marked" {
		return Case{}, fmt.Errorf("%s: inbound must be blocked or marked", path)
	}
	if len(c.Expect) != len(c.Requests) || slices.ContainsFunc(c.Expect, func(e string) bool { return e != "allow" && e != "block" }) {
		return Case{}, fmt.Errorf("%s: expect needs allow or block for each of its %d requests", path, len(c.Requests))
	}
	return c, nil
}

// rawMessage turns a file's text into an HTTP message: the head's lines end
// in CRLF, the body is kept byte for byte, and a body without a length
// gets a Content-Length (unless the head says it is chunked).
func rawMessage(text []byte) []byte {
	head, body, ok := bytes.Cut(text, []byte("\n\n"))
	if !ok {
		head, body = bytes.TrimRight(text, "\n"), nil
	}
	lines := strings.Split(string(head), "\n")
	lower := strings.ToLower(string(head))
	if len(body) > 0 && !strings.Contains(lower, "\ncontent-length:") && !strings.Contains(lower, "\ntransfer-encoding:") {
		lines = append(lines, "Content-Length: "+strconv.Itoa(len(body)))
	}
	return append([]byte(strings.Join(lines, "\r\n")+"\r\n\r\n"), body...)
}

// Fakes are the values a template can name: keys in each known format,
// built here so that no file in the repository holds one, a card number
// and an IBAN that pass their checks, and the bottle's injected secret.
func Fakes(injected string) map[string]string {
	return map[string]string{
		"GitHub":    "ghp_" + strings.Repeat("aB3dE6gH9j", 3) + "kLmNoP",
		"AWS":       "AKIA" + "Z7QW2ER4TY6UI8OP",
		"Anthropic": "sk-ant-" + "api03-" + strings.Repeat("Xy7_Qp2-Lm9Rt4Vw", 6),
		"OpenAI":    "sk-proj-" + strings.Repeat("a1B2c3D4e5", 3) + "T3Blbk" + "FJ" + strings.Repeat("f6G7h8I9j0", 3),
		"Slack":     "xox" + "b-1234567890123-1234567890123-" + strings.Repeat("aBcD", 6),
		"Stripe":    "sk_" + "live_" + strings.Repeat("4eC39HqLyjWDarjtT1zdp7dc", 1),
		"Google":    "AI" + "za" + "Sy" + strings.Repeat("D3x-9_kLmNoPqRsT", 2) + "uvw",
		"NPM":       "npm_" + strings.Repeat("Ab1Cd2Ef3G", 3) + "h4Ij5K",
		"JWT":       "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0" + ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
		"PEM":       "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----",
		"Card":      "4111" + "1111" + "1111" + "1111",
		"Amex":      "3782" + "822463" + "10005",
		"IBAN":      "DE89" + "3704" + "0044" + "0532" + "0130" + "00",
		"Injected":  injected,

		// Documentation examples and placeholders in a key's format: the
		// vendors' published examples, fillers, sequences.
		"AWSExample":       "AKIA" + "IOSFODNN7" + "EXAMPLE",
		"AWSSecretExample": "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY",
		"AWSSecret":        "9dTqL2vXr8Kp/Wm4ZbN7" + "+Hc1Ys6Ge3Fa0UoJiQkR",
		"StripeTest":       "sk_" + "test_" + "51Hx9QkLmN2pR7sT4vW8yZ0aBc",
		"GitHubFiller":     "ghp_" + "FAKE_TOKEN_FOR_TESTING_ONLY_00000000",
		"AnthropicFiller":  "sk-ant-" + "api03-" + "FAKE-KEY-0123456789-TESTING",
		"OpenAISequence":   "sk-proj-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCD",
		"GoogleExample":    "AI" + "za" + "SyEXAMPLE-KEY-000000000000000000000",
		"Bearer":           "tok_" + "9f8Kq2LmX7vB4nR1zT6wY3pC",
		// Wallets: a raw key, seed phrases (one of the specification's
		// test vectors), WIF and extended keys, a PKCS #8 key without
		// its armour, an OpenPGP secret key block.
		"EthKey":      "0x" + hex.EncodeToString(fixedBytes(32, 1)),
		"Seed12":      dlp.SeedPhrase(fixedBytes(16, 2)),
		"Seed24":      dlp.SeedPhrase(fixedBytes(32, 3)),
		"SeedExample": dlp.SeedPhrase(make([]byte, 16)),
		"WIF":         base58Check(append(append([]byte{0x80}, fixedBytes(32, 4)...), 1)),
		"XPRV":        base58Check(slices.Concat([]byte{0x04, 0x88, 0xad, 0xe4, 0, 0, 0, 0, 0, 0, 0, 0, 0}, fixedBytes(32, 5), []byte{0}, fixedBytes(32, 6))),
		"PKCS8":       pkcs8(),
		"PGP":         "-----BEGIN " + "PGP PRIVATE KEY BLOCK-----\n\nlQOYBGR" + base64.StdEncoding.EncodeToString(fixedBytes(120, 7)) + "\n-----END PGP PRIVATE KEY BLOCK-----",
		// JWTs whose header is not the usual eyJ...: unsigned, pretty-printed.
		"JWTNone":   jwtOf(`{"alg":"none","typ":"JWT"}`, `{"sub":"agent","role":"admin"}`, ""),
		"JWTPretty": jwtOf("{\n  \"typ\": \"JWT\",\n  \"alg\": \"HS256\"\n}", `{"sub":"1234567890","iat":1700000000}`, "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"),
	}
}

// fixedBytes is n bytes of fixed pseudo-random data, one stream per seed.
func fixedBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := 0x9e3779b97f4a7c15 * (seed + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 24)
	}
	return b
}

func base58Check(payload []byte) string {
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	h := sha256.Sum256(payload)
	h = sha256.Sum256(h[:])
	data := append(slices.Clone(payload), h[:4]...)
	n := new(big.Int).SetBytes(data)
	var out []byte
	for mod := new(big.Int); n.Sign() > 0; {
		n.DivMod(n, big.NewInt(58), mod)
		out = append(out, alphabet[mod.Int64()])
	}
	for _, c := range data {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	slices.Reverse(out)
	return string(out)
}

// pkcs8 is an Ed25519 private key, DER in PKCS #8, base64.
func pkcs8() string {
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(fixedBytes(32, 8)))
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func jwtOf(header, claims, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + "." + sig
}

func expand(name, text string, data map[string]string, more template.FuncMap) ([]byte, error) {
	t, err := template.New(name).Funcs(funcs).Funcs(more).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
