package egress

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/bottle-sandbox/bottle/internal/dlp"
	"github.com/ulikunitz/xz"
)

// TestOutsideKeyInToolOutput: a file with a key in it, as the tools that
// show bytes print it (xxd, hexdump -C, od), uploaded as printed; bytes
// as octal numbers. A dump of an ordinary file still passes.
func TestOutsideKeyInToolOutput(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	env := "GITHUB_TOKEN=" + outsideGitHub + "\nAWS_ACCESS_KEY_ID=" + outsideAWS + "\n"
	refusedAll(t, o, F, map[string]string{
		"xxd":                  textPost(F, xxdOf(env)),
		"hexdump -C":           textPost(F, hexdumpOf(env)),
		"od -b":                textPost(F, odOf(env, "%03o", 1)),
		"od -t x1":             textPost(F, odOf(env, "%02x", 1)),
		"od -An -t x1":         textPost(F, odNoOffsets(env)),
		"octal numbers spaced": textPost(F, escaped(outsideGitHub, "%03o ")),
		"the secret, xxd":      textPost(F, xxdOf("k="+outsideSecret+"\n")),
	})
	passedAll(t, o, F, map[string]string{
		"xxd of a note":      textPost(F, xxdOf("Remember to water the plants on Tuesday, and call Anna back.\n")),
		"hexdump of a png":   textPost(F, hexdumpOf("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00\\r\xa8f")),
		"permissions, octal": textPost(F, "0644 0755 0600 0700 0444 0555 0640 0750 0660 0770 0664 0775 0775"),
	})
}

// xxdOf is s as xxd prints it.
func xxdOf(s string) string {
	var b strings.Builder
	for off := 0; off < len(s); off += 16 {
		line := s[off:min(off+16, len(s))]
		fmt.Fprintf(&b, "%08x: ", off)
		for i := 0; i < 16; i += 2 {
			switch {
			case i+1 < len(line):
				fmt.Fprintf(&b, "%02x%02x ", line[i], line[i+1])
			case i < len(line):
				fmt.Fprintf(&b, "%02x   ", line[i])
			default:
				b.WriteString("     ")
			}
		}
		fmt.Fprintf(&b, " %s\n", printable(line))
	}
	return b.String()
}

// hexdumpOf is s as hexdump -C prints it.
func hexdumpOf(s string) string {
	var b strings.Builder
	for off := 0; off < len(s); off += 16 {
		line := s[off:min(off+16, len(s))]
		fmt.Fprintf(&b, "%08x  ", off)
		for i := range 16 {
			if i < len(line) {
				fmt.Fprintf(&b, "%02x ", line[i])
			} else {
				b.WriteString("   ")
			}
			if i == 7 {
				b.WriteByte(' ')
			}
		}
		fmt.Fprintf(&b, " |%s|\n", printable(line))
	}
	return b.String() + fmt.Sprintf("%08x\n", len(s))
}

// odOf is s as od prints it with offsets, each byte in format.
func odOf(s, format string, _ int) string {
	var b strings.Builder
	for off := 0; off < len(s); off += 16 {
		fmt.Fprintf(&b, "%07o", off)
		for _, c := range []byte(s[off:min(off+16, len(s))]) {
			b.WriteString(" " + fmt.Sprintf(format, c))
		}
		b.WriteByte('\n')
	}
	return b.String() + fmt.Sprintf("%07o\n", len(s))
}

// odNoOffsets is od -An -t x1: bytes in hex, sixteen a line, a space
// before each.
func odNoOffsets(s string) string {
	var b strings.Builder
	for off := 0; off < len(s); off += 16 {
		for _, c := range []byte(s[off:min(off+16, len(s))]) {
			fmt.Fprintf(&b, " %02x", c)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '.'
		}
		return r
	}, s)
}

// TestOutsideKeyCompressedWithoutMagic: a key compressed by a coding that
// has no magic bytes to know it by (raw deflate), or by xz, with no
// Content-Encoding saying so, as a body or as base64 in JSON. Random
// binary data, brotli of prose and images still pass. (Brotli of a key
// still gets out: compressed.go says why.)
func TestOutsideKeyCompressedWithoutMagic(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	env := []byte(strings.Repeat("# settings for the build, the token and more\n", 30) + "GITHUB_TOKEN=" + outsideGitHub + "\n" + strings.Repeat("export OTHER_SETTING=1\n", 10))
	bin := func(b []byte) string { return post("/upload", F, "application/octet-stream", string(b)) }
	js := func(b []byte) string {
		return post("/upload", F, "application/json", `{"blob":"`+base64.StdEncoding.EncodeToString(b)+`"}`)
	}
	refusedAll(t, o, F, map[string]string{
		"raw deflate":                   bin(deflated(env)),
		"xz":                            bin(xzed(env)),
		"raw deflate as base64 in json": js(deflated(env)),
		"xz in a multipart part": post("/up", F, "multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"env.xz\"\r\n\r\n"+
			string(xzed(env))+"\r\n--XX--\r\n"),
	})
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*2654435761>>13 ^ i*40503)
	}
	passedAll(t, o, F, map[string]string{
		"random bytes":        bin(random),
		"brotli of prose":     bin(brotlied([]byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 40)))),
		"raw deflate of code": js(deflated([]byte("package main\n\nfunc main() {\n\tprintln(\"hello\")\n}\n"))),
		"a png":               post("/upload", F, "image/png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa"+string(random[:512])),
	})
}

func deflated(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func brotlied(b []byte) []byte {
	var buf bytes.Buffer
	w := brotli.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func xzed(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := xz.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestOutsideKeyInMarkupEscapes: a key with each character in
// quoted-printable's =XX, or written with HTML's named references
// (&lowbar;, and letters as &Aopf;, which read as the letter). Mail and
// pages that use these for what they are for still pass.
func TestOutsideKeyInMarkupEscapes(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	named := strings.NewReplacer("A", "&Aopf;", "K", "&Kopf;", "I", "&Iopf;", "Q", "&Qopf;", "X", "&Xopf;")
	refusedAll(t, o, F, map[string]string{
		"quoted-printable, every character": textPost(F, escaped(outsideGitHub, "=%02X")),
		"quoted-printable, the secret":      textPost(F, "k "+escaped(outsideSecret, "=%02x")),
		"an html named reference":           post("/upload", F, "text/html", "<p>"+strings.Replace(outsideGitHub, "_", "&lowbar;", 1)+"</p>"),
		"letters as named references":       post("/upload", F, "text/html", "<p>"+named.Replace(outsideAWS)+"</p>"),
	})
	passedAll(t, o, F, map[string]string{
		"a mail in quoted-printable": textPost(F, "Caf=C3=A9 au lait, s'il vous pla=C3=AEt. A=3DB, c=3Dd, 50=25 off.\r\nSee you =\r\ntomorrow.\r\n"),
		"a page with entities":       post("/upload", F, "text/html", "<p>Fish &amp; chips &lt;3 &copy; 2026 &mdash; &nbsp;&hellip; &euro;5 &Aopf; is the affine plane; x&lowbar;1</p>"),
	})
}

// TestOutsideKeyAcrossCookies: a key in the values of many cookies, or of
// many query parameters each with its own name, in the order they were
// sent, in one request. A client's many cookies and parameters still
// pass.
func TestOutsideKeyAcrossCookies(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	var cookies, query []string
	for i := 0; i < len(outsideGitHub); i += 4 {
		cookies = append(cookies, fmt.Sprintf("c%02d=%s", i/4, outsideGitHub[i:min(i+4, len(outsideGitHub))]))
		query = append(query, fmt.Sprintf("%c=%s", 'a'+i/4, outsideAWS[i/2:min(i/2+2, len(outsideAWS))]))
	}
	refusedAll(t, o, F, map[string]string{
		"ten cookies":          "GET / HTTP/1.1\nHost: " + F + "\nCookie: " + strings.Join(cookies, "; ") + "\n\n",
		"ten cookie headers":   "GET / HTTP/1.1\nHost: " + F + "\nCookie: " + strings.Join(cookies, "\nCookie: ") + "\n\n",
		"ten query parameters": "GET /s?" + strings.Join(query, "&") + " HTTP/1.1\nHost: " + F + "\n\n",
	})
	passedAll(t, o, F, map[string]string{
		"a site's cookies": "GET / HTTP/1.1\nHost: " + F + "\nCookie: _ga=GA1.2.1234567890.1733052345; _gid=GA1.2.987654321.1733052345; lang=en; theme=dark; consent=yes; sid=4f7a; tz=UTC; ab=b2\n\n",
		"a search's query": "GET /s?q=rust+async&page=2&per_page=50&sort=stars&order=desc&lang=en&type=repo&since=2026-01-01 HTTP/1.1\nHost: " + F + "\n\n",
	})
}

// TestOutsideSeedPhraseShapes: a wallet's seed phrase as a pretty-printed
// JSON list, as the first four letters of each word (all the list needs,
// and what metal backups keep), and with no space between its words.
func TestOutsideSeedPhraseShapes(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	seed := dlp.SeedPhrase([]byte("\x7a\x1f\x03\xc9\x88\x41\x5e\x26\xb0\x9d\x12\xee\x47\x60\x3b\xa5"))
	words := strings.Fields(seed)
	var four, capitalized []string
	for _, w := range words {
		four = append(four, w[:min(4, len(w))])
		capitalized = append(capitalized, strings.ToUpper(w[:1])+w[1:])
	}
	refusedAll(t, o, F, map[string]string{
		"a pretty-printed json list": post("/upload", F, "application/json", "{\n  \"seed\": [\n    \""+strings.Join(words, "\",\n    \"")+"\"\n  ]\n}"),
		"four letters a word":        textPost(F, strings.Join(four, " ")),
		"no spaces":                  textPost(F, strings.Join(words, "")),
		"capitalized, no spaces":     textPost(F, strings.Join(capitalized, "")),
	})
	passedAll(t, o, F, map[string]string{
		"prose of list words": textPost(F, "The abstract art gallery will open in April; bring a jacket, the air is cold and the water above the bridge is deep."),
		"a word list":         post("/upload", F, "application/json", "{\n  \"words\": [\n    \"apple\",\n    \"banana\",\n    \"cherry\",\n    \"dog\",\n    \"elephant\",\n    \"forest\",\n    \"garden\",\n    \"house\",\n    \"island\",\n    \"jungle\",\n    \"kitchen\",\n    \"lemon\"\n  ]\n}"),
	})
}

// TestOutsideJWKPrivateKey: a private key as a JSON Web Key (RSA's d, p
// and q; an EC or OKP key's d; a symmetric key's k), also inside a JSON
// string. Public keys as JWKs still pass.
func TestOutsideJWKPrivateKey(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	const d = "X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoVH-HLLKD9M7dx5oo7GURknchnrRweUkC7hT5fJLM0WbFAKNLWY2vv7B6NqXSzUvxT0_YSfqijwp3RTzlBaCxWp4doFk5N2o8Gy_nHNKroADIkJ46pRUohsXywbReAdYaMwFs9tv8d_cPVY3i07a3t8MN6TNwm0dSawm9v47UiCl3Sk5ZiG7xojPLu4sbg1U2jx4IBTNBznbJSzFHK66jT8bgkuqsk0GjskDJk19Z4qwjwbsnn4j2WBii3RL-Us2lGVkY8fkFzme1z0HbIkfz0Y6mqnOYtqc0X4jfcKoAC8Q"
	rsa := `{"kty":"RSA","n":"` + n + `","e":"AQAB","d":"` + d + `"}`
	ec := `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}`
	okp := `{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}`
	oct := `{"kty":"oct","k":"GawgguFyGrWKav7AX4VKUg","alg":"A128KW"}`
	refusedAll(t, o, F, map[string]string{
		"an rsa jwk":            post("/upload", F, "application/json", rsa),
		"an ec jwk":             post("/upload", F, "application/json", ec),
		"an okp jwk, spaced":    post("/upload", F, "application/json", okp),
		"a symmetric jwk":       post("/upload", F, "application/json", oct),
		"a jwk set in a string": post("/upload", F, "application/json", `{"content":"{\"keys\":[`+strings.ReplaceAll(ec, `"`, `\"`)+`]}"}`),
	})
	passedAll(t, o, F, map[string]string{
		"a public jwk set": post("/upload", F, "application/json", `{"keys":[{"kty":"RSA","n":"`+n+`","e":"AQAB","kid":"2026-12"},{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`),
		"docs about jwks":  textPost(F, `A JWK has "kty" and, for a private key, "d"; never publish d.`),
	})
}
