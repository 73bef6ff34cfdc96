package dlp

import (
	"bytes"
	"compress/flate"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

// Views of issue 20's third round, each of which carried a key past the
// scanner before it (found by an outside attacker's encodings).

type formCase struct{ name, data, rule string }

func findsAll(t *testing.T, s *Scanner, cases []formCase, benign []string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := s.Scan([]byte(tc.data), "body")
			if f == nil || f.Rule != tc.rule {
				t.Errorf("Scan(%.80q) = %+v, want rule %s", tc.data, f, tc.rule)
			}
		})
	}
	for _, data := range benign {
		if f := s.Scan([]byte(data), "body"); f != nil {
			t.Errorf("benign %.60q flagged as %+v", data, f)
		}
	}
}

func runesOf(s string, f func(r rune) rune) string {
	return strings.Map(f, s)
}

// TestFindsThroughUnicode: tag characters, bytes as variation selectors,
// compatibility forms, lookalikes next to ASCII, default-ignorable
// characters between a key's.
func TestFindsThroughUnicode(t *testing.T) {
	s := New([]string{injected})
	tag := func(r rune) rune { return r + 0xE0000 }
	bold := func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return 0x1D41A + r - 'a'
		case 'A' <= r && r <= 'Z':
			return 0x1D400 + r - 'A'
		case '0' <= r && r <= '9':
			return 0x1D7CE + r - '0'
		}
		return r
	}
	var vs strings.Builder
	for _, c := range []byte("k=" + ghToken) {
		if c < 16 {
			vs.WriteRune(rune(0xFE00 + int(c)))
		} else {
			vs.WriteRune(rune(0xE0100 + int(c) - 16))
		}
	}
	findsAll(t, s, []formCase{
		{"tag characters after text", "see" + runesOf(ghToken, tag) + "here", "github-token"},
		{"the secret in tag characters", runesOf(injected, tag), "injected-secret"},
		{"bytes as variation selectors", "ok 🙂" + vs.String(), "github-token"},
		{"mathematical bold", runesOf(ghToken, bold), "github-token"},
		{"circled aws", "\u24b6\u24c0\u24be\u24b6" + awsKey[4:], "aws-access-key-id"},
		{"hangul fillers between", strings.Join(strings.Split(ghToken, ""), "\u3164"), "github-token"},
		{"variation selectors between", strings.Join(strings.Split(awsKey, ""), "\ufe0f"), "aws-access-key-id"},
		{"cyrillic lookalikes", strings.NewReplacer("a", "а", "e", "е", "o", "о", "p", "р").Replace(ghToken), "github-token"},
	}, []string{
		"Ship it ✔️ 👍🏽 👨‍👩‍👧 ❤️ 🏴󠁧󠁢󠁥󠁮󠁧󠁿 done",
		"Let 𝑓(𝑥) = 𝑥² + 1 for 𝑥 ∈ ℝ; ① ② ③ H₂O",
		"Привет, мир! Москва — столица. Ελληνικά. ＡＢＣ１２３、２０２６年",
	})
}

// TestFindsThroughGroups: a key cut into groups (raw, hex, base64), in
// halves, by a sign that is a key's character, or written a character a
// literal, bound for a host the bottle holds no credential for.
func TestFindsThroughGroups(t *testing.T) {
	s := New([]string{injected}).Untrusted()
	group := func(v string, n int, sep string) string {
		var parts []string
		for len(v) > n {
			parts, v = append(parts, v[:n]), v[n:]
		}
		return strings.Join(append(parts, v), sep)
	}
	hx := hex.EncodeToString([]byte(ghToken))
	b64 := base64.StdEncoding.EncodeToString([]byte("GITHUB_TOKEN=" + ghToken))
	chars := strings.Split(ghToken, "")
	findsAll(t, s, []formCase{
		{"groups of four", "key: " + group(ghToken, 4, " "), "github-token"},
		{"groups of three with dots", group(ghToken, 3, "."), "github-token"},
		{"aws in groups of four", group(awsKey, 4, " "), "aws-access-key-id"},
		{"the secret in groups of four", group(injected, 4, " "), "injected-secret"},
		{"hex in groups of four", group(hx, 4, " "), "github-token"},
		{"base64 in groups of four, lines of eight groups", group(group(b64, 4, " "), 40, "\n"), "github-token"},
		{"halves", "k " + ghToken[:20] + " " + ghToken[20:] + " end", "github-token"},
		{"aws in groups of five with dashes", group(awsKey, 5, "-"), "aws-access-key-id"},
		{"hex as uuids", hx[:8] + "-" + hx[8:12] + "-" + hx[12:16] + "-" + hx[16:20] + "-" + hx[20:32] + "-" + hx[32:], "github-token"},
		{"slashes between", strings.Join(strings.Split(awsKey, ""), "/"), "aws-access-key-id"},
		{"a json list of its characters", `{"k":["` + strings.Join(chars, `","`) + `"]}`, "github-token"},
		{"a python list, pretty", "k = [\n    '" + strings.Join(chars, "',\n    '") + "',\n]", "github-token"},
		{"characters added up", "k = '" + strings.Join(chars, "' + '") + "'", "github-token"},
		{"a character a line in a json string", `{"k":"` + strings.Join(chars, `\n`) + `"}`, "github-token"},
	}, []string{
		"The quick brown fox jumps over the lazy dog, and 12 more words of prose, Mr Smith.",
		"sha256: 9f86 d081 884c 7d65 9a2f eaa0 c55a d015 a3bf 4f1b 2b0b 822c d15d 6c15 b0f0 0a08",
		"ids: 123e4567-e89b-12d3-a456-426614174000, 6f1c2b1e-9a43-4c1e-8f6e-2d7b4c9a1e55",
		`{"langs":["en","de","fr","es","it","pt","nl","sv","da","fi","no","pl","cs","sk","hu"]}`,
		"v1.2.3 v1.2.4 v1.3.0 v2.0.0-rc1 v2.0.0 v2.1.0 v2.1.1 v2.2.0 v3.0.0-beta.2",
		"getUserById setUserName HttpClient2 parseJSON5 toBase64Url fromUtf8Bytes X509Cert K8sNode",
		"+1 555 010 9999, +44 20 7946 0958, +49 30 1234 5678, 4 8 15 16 23 42 108 1024 4096",
	})
}

// TestFindsThroughMoreBases: base32 in small letters and base32hex, the
// big-number bases, a decimal integer, layers past four, UTF-7, an
// encoding reversed, bound for a host the bottle holds no credential for
// (the model's API is spared the bases' views, bases.go).
func TestFindsThroughMoreBases(t *testing.T) {
	s := New([]string{injected}).Untrusted()
	inBase := func(v, alphabet string) string {
		n := new(big.Int).SetBytes([]byte(v))
		var out []byte
		for m, b := new(big.Int), big.NewInt(int64(len(alphabet))); n.Sign() > 0; {
			n.DivMod(n, b, m)
			out = append([]byte{alphabet[m.Int64()]}, out...)
		}
		return string(out)
	}
	layers := func(v string, n int) string {
		for i := range n {
			if i%2 == 0 {
				v = base64.StdEncoding.EncodeToString([]byte(v))
			} else {
				v = hex.EncodeToString([]byte(v))
			}
		}
		return v
	}
	findsAll(t, s, []formCase{
		{"base32 in small letters", strings.ToLower(base32.StdEncoding.EncodeToString([]byte(ghToken))), "github-token"},
		{"base32hex", base32.HexEncoding.EncodeToString([]byte(awsKey + " ")), "aws-access-key-id"},
		{"base58", "k " + inBase(ghToken, "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"), "github-token"},
		{"base62", inBase("k="+ghToken, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), "github-token"},
		{"base36", inBase(injected, "0123456789abcdefghijklmnopqrstuvwxyz"), "injected-secret"},
		{"a decimal integer", "n=" + new(big.Int).SetBytes([]byte(ghToken)).String(), "github-token"},
		{"seven layers", layers(ghToken, 7), "github-token"},
		{"utf-7", "+" + strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("\x00"+strings.Join(strings.Split(ghToken, ""), "\x00"))), "=") + "-", "github-token"},
	}, []string{
		"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
		"3.14159265358979323846264338327950288419716939937510582097494459230781640628620899",
		"01ARZ3NDEKTSV4RRFFQ69G5FAV 5rnfzla9kcx4mj5zdc7nlnv8na1najvg-firefox Zx9Kq2LmT7vB4nR8cW1pY6hJ3sD0fG5aQe",
	})
	if f := s.Scan([]byte(reverse(base64.StdEncoding.EncodeToString([]byte("GITHUB_TOKEN="+ghToken)))), "body"); f == nil || f.Rule != "github-token" {
		t.Errorf("base64 reversed: %+v", f)
	}
}

// TestFindsThroughFormats: a dump of a file (xxd, hexdump -C, od -b),
// bytes as octal numbers, a JSON Web Key's private part, HTML's named
// references, a seed phrase pretty-printed, in four letters a word or
// with no spaces, xz and raw deflate.
func TestFindsThroughFormats(t *testing.T) {
	s := New([]string{injected})
	env := "GITHUB_TOKEN=" + ghToken + "\n"
	var xxd, od strings.Builder
	for off := 0; off < len(env); off += 16 {
		line := env[off:min(off+16, len(env))]
		fmt.Fprintf(&xxd, "%08x: %x  %s\n", off, line, line)
		fmt.Fprintf(&od, "%07o", off)
		for _, c := range []byte(line) {
			fmt.Fprintf(&od, " %03o", c)
		}
		od.WriteString("\n")
	}
	seed := SeedPhrase([]byte("\x7a\x1f\x03\xc9\x88\x41\x5e\x26\xb0\x9d\x12\xee\x47\x60\x3b\xa5"))
	var four []string
	for _, w := range strings.Fields(seed) {
		four = append(four, w[:min(4, len(w))])
	}
	var xzBuf bytes.Buffer
	xw, _ := xz.NewWriter(&xzBuf)
	xw.Write([]byte(strings.Repeat("# a long preamble, compressed away\n", 20) + env))
	xw.Close()
	var raw bytes.Buffer
	fw, _ := flate.NewWriter(&raw, flate.BestCompression)
	fw.Write([]byte(strings.Repeat("# a long preamble, compressed away\n", 20) + env))
	fw.Close()
	findsAll(t, s, []formCase{
		{"xxd", xxd.String(), "github-token"},
		{"od -b", od.String(), "github-token"},
		{"octal numbers", codesOf(ghToken, "%03o", " "), "github-token"},
		{"an ec jwk", `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}`, "private-key"},
		{"a seed in four letters a word", strings.Join(four, " "), "seed-phrase"},
		{"a seed with no spaces", strings.ReplaceAll(seed, " ", ""), "seed-phrase"},
		{"xz", xzBuf.String(), "github-token"},
	}, []string{
		"00000000: 4865 6c6c 6f2c 2077 6f72 6c64 210a       Hello, world!.\n",
		`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`,
		"<p>Fish &amp; chips &copy; 2026 &mdash; x&lowbar;1</p>",
		"The abstract art gallery will open in April; bring a jacket, the air is cold and the water above the bridge is deep.",
	})
	// Raw deflate has no magic: it is tried on binary data bound for a
	// host the bottle holds no credential for; so are lists of quoted
	// words, pretty-printed.
	if f := s.Untrusted().Scan(raw.Bytes(), "body"); f == nil || f.Rule != "github-token" {
		t.Errorf("raw deflate: %+v", f)
	}
	if f := s.Untrusted().Scan([]byte("[\n    \""+strings.Join(strings.Fields(seed), "\",\n    \"")+"\"\n]"), "body"); f == nil || f.Rule != "seed-phrase" {
		t.Errorf("a seed pretty-printed: %+v", f)
	}
	if f := s.Untrusted().Scan([]byte("<p>"+strings.Replace(ghToken, "_", "&lowbar;", 1)+"</p>"), "body"); f == nil || f.Rule != "github-token" {
		t.Errorf("html named references: %+v", f)
	}
}
