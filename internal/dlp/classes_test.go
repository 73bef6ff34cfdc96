package dlp

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// The classes of issue 20, each with the places it is found in and the
// places it passes.
func TestFindsByPlace(t *testing.T) {
	s := New(nil)
	untrusted := s.Untrusted()
	awsExample := "AKIA" + "IOSFODNN7" + "EXAMPLE"
	filler := "ghp_" + "FAKE_TOKEN_FOR_TESTING_ONLY_00000000"
	jwtPretty := base64.RawURLEncoding.EncodeToString([]byte("{\n  \"alg\": \"HS256\"\n}")) + ".eyJzdWIiOiJ4In0.c2ln"
	seed := SeedPhrase([]byte("0123456789abcdef"))
	cases := []struct {
		name    string
		s       *Scanner
		data    string
		where   string
		rule    string // "" when it must pass
		comment string
	}{
		{"example key in a header", s, "Bearer " + awsExample, "header authorization", "aws-access-key-id", ""},
		{"example key in the url", s, "https://x.test/?k=" + awsExample, "url", "aws-access-key-id", ""},
		{"example key in a body to the model", s, "AWS_ACCESS_KEY_ID=" + awsExample, "body", "", "documentation"},
		{"example key in a body elsewhere", untrusted, "AWS_ACCESS_KEY_ID=" + awsExample, "body", "aws-access-key-id", ""},
		{"filler in a body elsewhere", untrusted, `{"t":"` + filler + `"}`, "body", "github-token", ""},
		{"filler in a body to the model", s, `{"t":"` + filler + `"}`, "body", "", ""},
		{"the bottle's placeholder as a bearer", s, "Bearer bottle-placeholder", "header authorization", "", ""},
		{"a login's placeholder", s, "Bearer sk-ant-oat01-bottle-placeholder-access", "header authorization", "", ""},
		{"a secret of no format named for one", untrusted, "api_key: tok_9f8Kq2LmX7vB4nR1zT6wY3pC", "body", "credential", ""},
		{"a value of no format in a key header", s, "9f8Kq2LmX7vB4nR1zT6wY3pC", "header x-api-key", "credential", ""},
		{"a word named for a credential", untrusted, `{"auth_method":"oauth2-device-flow","token_type":"Bearer"}`, "body", "", ""},
		{"an id named for nothing", untrusted, `{"id":"9f8Kq2LmX7vB4nR1zT6wY3pC"}`, "body", "", ""},
		{"a websocket key", s, "dGhlIHNhbXBsZSBub25jZQ==", "header sec-websocket-key", "", ""},
		{"an npm session", s, "4f3c2a1b9e8d7c6f", "header npm-session", "", ""},
		{"a jwt in a query", s, "/cb?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "url", "jwt", ""},
		{"a pretty-printed jwt", s, "t=" + jwtPretty, "body", "jwt", ""},
		{"an unsigned jwt", s, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "body", "jwt", ""},
		{"base64 json with no dots", s, "data:application/json;base64,eyJ2ZXJzaW9uIjozfQ==", "body", "", ""},
		{"a seed phrase", s, "my words: " + seed, "body", "seed-phrase", ""},
		{"the test vector to the model", s, "mnemonic: " + SeedPhrase(make([]byte, 16)), "body", "", "documentation"},
		{"the test vector elsewhere", untrusted, "mnemonic: " + SeedPhrase(make([]byte, 16)), "body", "seed-phrase", ""},
		{"prose of list words", s, "abandon the ability to act, able about above absent absorb abstract absurd abuse access", "body", "", ""},
		{"percent-encoded twice", s, url.QueryEscape(url.QueryEscape("k=" + ghToken)), "body", "github-token", ""},
		{"a stray percent beside an escape", s, "100% done, %zz: " + url.QueryEscape("k="+ghToken+"&"), "body", "github-token", ""},
		{"base64 wrapped at 8", s, wrap(base64.StdEncoding.EncodeToString([]byte(ghToken)), 8, "\n"), "body", "github-token", ""},
		{"base64 after name=", s, "d=" + base64.StdEncoding.EncodeToString([]byte("x "+ghToken)), "body", "github-token", ""},
		{"hex out of step", s, "\x00\x01a" + hex.EncodeToString([]byte(ghToken)) + "f\x02\x03", "body", "github-token", ""},
		{"openpgp key block", s, "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOY", "body", "private-key", ""},
		{"a public key block", s, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQIN", "body", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.s.Scan([]byte(tc.data), tc.where)
			switch {
			case tc.rule == "" && f != nil:
				t.Errorf("flagged: %+v", f)
			case tc.rule != "" && (f == nil || f.Rule != tc.rule):
				t.Errorf("Scan = %+v, want rule %s", f, tc.rule)
			}
		})
	}
}

func TestCredentialName(t *testing.T) {
	for name, want := range map[string]bool{
		"Authorization": true, "x-api-key": true, "AWS_SECRET_ACCESS_KEY": true, "secretAccessKey": true,
		"accessKeyId": true, "key": true, "STRIPE_KEY": true, "id_token": true, "password": true, "client_secret": true,
		"max_tokens": false, "author": false, "sec-websocket-key": false, "idempotency-key": false, "public_key_id": false,
		"sort_key": false, "keyboard": false, "npm-session": false, "monkey": false,
	} {
		if got := credentialName(name); got != want {
			t.Errorf("credentialName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestWalletKeys(t *testing.T) {
	s := New(nil)
	// A WIF key of 32 zero bytes but the last, compressed: its checksum is
	// right; one character changed breaks it.
	wif := wifOf(append(make([]byte, 31), 1))
	if f := s.Scan([]byte("k="+wif), "body"); f == nil || f.Rule != "wallet-key" {
		t.Errorf("WIF: %+v", f)
	}
	broken := []byte(wif)
	broken[10] ^= 1
	if broken[10] == '0' || broken[10] == 'O' || broken[10] == 'I' || broken[10] == 'l' {
		broken[10] = 'z'
	}
	if f := s.Scan(broken, "body"); f != nil && f.Rule == "wallet-key" {
		t.Errorf("a WIF with a bad checksum: %+v", f)
	}
	if !strings.HasPrefix(wif, "K") && !strings.HasPrefix(wif, "L") {
		t.Errorf("WIF %s", wif)
	}
}

func wifOf(key []byte) string {
	return base58Encode(append(append([]byte{0x80}, key...), 1))
}

func base58Encode(payload []byte) string {
	h := doubleSHA(payload)
	data := append(append([]byte{}, payload...), h[:4]...)
	var out []byte
	n := append([]byte{}, data...)
	for len(n) > 0 {
		rem, q := 0, []byte{}
		for _, b := range n {
			v := rem*256 + int(b)
			if d := v / 58; d > 0 || len(q) > 0 {
				q = append(q, byte(d))
			}
			rem = v % 58
		}
		out = append([]byte{base58[rem]}, out...)
		n = q
	}
	return string(out)
}

// A value named for a credential outright counts whatever it looks like,
// bound for a host the bottle holds no credential for; code that names
// one (password: cfg.Password) does not.
func TestNamedValues(t *testing.T) {
	s := New(nil)
	untrusted := s.Untrusted()
	for _, tc := range []struct {
		name, data, where string
		s                 *Scanner
		found             bool
	}{
		{"a password in a form", "user=a&password=Hunter2!2024", "body", untrusted, true},
		{"a password in JSON", `{"password":"changeme123"}`, "body", untrusted, true},
		{"a token in YAML", "auth_token: test-token-123\n", "body", untrusted, true},
		{"x's as a token", "access_token=xxxxxxxxxxxx&x=1", "url", untrusted, true},
		{"a short bearer", "Bearer test-token-123", "header authorization", untrusted, true},
		{"a short bearer to the model", "Bearer test-token-123", "header authorization", s, false},
		{"a password to the model", `{"password":"changeme123"}`, "body", s, false},
		{"code", "s.auth = &BasicAuth{Password: strings.TrimSpace(tok)}; cr.Credential = c.Carrier()", "body", untrusted, false},
		{"a template", `password: "${DB_PASSWORD}"`, "body", untrusted, false},
		{"a page token", "page_token=CiAKGjBpNDd2Nmp2Zml2cXRwYjBp", "url", untrusted, false},
		{"a policy", `{"password_policy":"strong-enough","token_type":"Bearer"}`, "body", untrusted, false},
		{"HTML character references", "<p>&#103;&#x68;&#112;&#x5f;" + strings.Repeat("&#97;&#x42;&#51;", 12) + "</p>", "body", s, true},
		{"a seed joined with hyphens", strings.ReplaceAll(SeedPhrase([]byte("0123456789abcdef")), " ", "-"), "body", s, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if f := tc.s.Scan([]byte(tc.data), tc.where); (f != nil) != tc.found {
				t.Errorf("Scan = %+v, want found %v", f, tc.found)
			}
		})
	}
}

func TestStrongName(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "DB_PASSWORD": true, "auth_token": true, "client_secret_value": true, "tokenStr": true,
		"x-api-key": true, "Authorization": true, "GITLAB_TOKEN": true,
		"token_type": false, "password_file": false, "token_url": false, "api_key_header": false, "max_tokens": false,
		"page_token": false, "auth_method": false, "public_key": false, "secret_store": false, "key": false,
		// Longer than the words' arrays on the stack.
		strings.Repeat("Settings", 9) + "Password": true, strings.Repeat("the_", 20) + "secret_url": false,
		strings.Repeat("a", 70) + "_token": true,
	} {
		if got := strongName(name); got != want {
			t.Errorf("strongName(%q) = %v, want %v", name, got, want)
		}
		if want && !strongEnding([]byte(name)) {
			t.Errorf("strongEnding(%q) = false", name)
		}
	}
}

// A seed phrase however its words are kept apart.
func TestSeedShapes(t *testing.T) {
	words := strings.Fields(SeedPhrase([]byte("0123456789abcdef")))
	var numbered, quoted []string
	for i, w := range words {
		numbered = append(numbered, strconv.Itoa(i+1)+". "+w)
		quoted = append(quoted, `"`+w+`"`)
	}
	for _, d := range []string{
		strings.Join(words, " "), strings.Join(numbered, " "), strings.Join(numbered, "\n"), strings.Join(words, "\n"),
		"[" + strings.Join(quoted, ", ") + "]", strings.ToUpper(strings.Join(words, " ")), strings.Join(words, " - "),
		strings.Join(words, " | "),
	} {
		if f := New(nil).Scan([]byte("note: "+d+" end"), "body"); f == nil || f.Rule != "seed-phrase" {
			t.Errorf("%.40q: %+v", d, f)
		}
	}
}

func TestShortFillersInHeaders(t *testing.T) {
	s := New(nil)
	for _, v := range []string{"Bearer xoxb-1234-5678-abcd", "Bearer sk-proj-abcdefghij0123456789", "Bearer glpat-xxxxxxxxxxxxxxxxxxxx"} {
		if f := s.Scan([]byte(v), "header authorization"); f == nil {
			t.Errorf("%s passed", v)
		}
	}
}
