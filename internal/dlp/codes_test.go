package dlp

import (
	"encoding/ascii85"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// Views of issue 20's second round, each of which carried a key past the
// scanner before it: character codes joined by a call per character,
// escapes inside a string that is itself escaped, Ascii85 in its framings,
// uuencode, ROT13.
func TestFindsThroughCodeViews(t *testing.T) {
	s := New([]string{injected})
	inJSON := func(code string) string { b, _ := json.Marshal(map[string]string{"code": code}); return string(b) }
	cases := []struct{ name, data, rule string }{
		{"CHAR()+CHAR()", "SELECT " + codesOf(ghToken, "CHAR(%d)", "+"), "github-token"},
		{"chr() . chr()", codesOf(awsKey, "chr(%d)", " . "), "aws-access-key-id"},
		{"CHR()||CHR() of the secret", codesOf(injected, "CHR(%d)", "||"), "injected-secret"},
		{"[char]0x67+[char]0x68", codesOf(ghToken, "[char]0x%x", "+"), "github-token"},
		{"fromCharCode per character", codesOf(ghToken, "String.fromCharCode(%d)", " + "), "github-token"},
		{"\\x escapes escaped again", inJSON(`k = "` + codesOf(ghToken, `\x%02x`, "") + `"`), "github-token"},
		{"\\u escapes escaped again", inJSON(`k = "` + codesOf(awsKey, `\u%04x`, "") + `"`), "aws-access-key-id"},
		{"octal escapes escaped again", inJSON(`k = "` + codesOf(ghToken, `\%03o`, "") + `"`), "github-token"},
		{"\\x escapes percent-encoded", "q=" + url.QueryEscape(codesOf(ghToken, `\x%02x`, "")), "github-token"},
		{"adobe ascii85", "<~" + ascii85Of("token "+ghToken) + "~>", "github-token"},
		{"adobe ascii85 wrapped in a json string", inJSON(wrap("<~"+ascii85Of("k="+ghToken+"\n")+"~>", 20, "\n")), "github-token"},
		{"btoa", "xbtoa Begin\n" + wrap(ascii85Of(awsKey+"    "), 12, "\n") + "\nxbtoa End N 24 18 E 4f S 9d2 R 1a2b3c4d\n", "aws-access-key-id"},
		{"uuencode", uuencode("k", "GITHUB_TOKEN="+ghToken+"\n"), "github-token"},
		{"uuencode in a json string", inJSON(uuencode(".env", "AWS_ACCESS_KEY_ID="+awsKey+"\n")), "aws-access-key-id"},
		{"rot13", "x " + rot13s(ghToken), "github-token"},
		{"rot13 aws lowercased", "k=" + strings.ToLower(rot13s(awsKey)), "aws-access-key-id"},
		{"rot13 of the secret", rot13s(injected), "injected-secret"},
		{"rot13 then base64", base64.StdEncoding.EncodeToString([]byte(rot13s("t " + ghToken))), "github-token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := s.Scan([]byte(tc.data), "body")
			if f == nil || f.Rule != tc.rule {
				t.Errorf("Scan(%.80q) = %+v, want rule %s", tc.data, f, tc.rule)
			}
		})
	}
	for _, data := range []string{
		"String.fromCharCode(72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33)",
		"SELECT 'a' + CHAR(13) + CHAR(10) + 'b' + CHAR(13) + CHAR(10) + 'c' + CHAR(13) + CHAR(10) + 'd' + CHAR(13) + CHAR(10) + 'e' + CHAR(13) + CHAR(10) + 'f' + CHAR(13) + CHAR(10) + 'g'",
		"<table>" + strings.Repeat("<tr><td>12</td><td>34</td></tr>", 10) + "</table>",
		`{"path":"C:\\Users\\x\\0day\\u0041"}`,
		"<~" + ascii85Of("The quick brown fox jumps over the lazy dog.") + "~>",
		uuencode("note.txt", "hello, world\n"),
		rot13s("The quick brown fox jumps over the lazy dog; status_code return value"),
		"begin 644 is how uuencode starts, and xbtoa Begin how btoa does",
		"x <~ y, a ~> b",
	} {
		if f := s.Scan([]byte(data), "body"); f != nil {
			t.Errorf("benign %.60q flagged as %+v", data, f)
		}
	}
}

func codesOf(s, format, sep string) string {
	parts := make([]string, len(s))
	for i, c := range []byte(s) {
		parts[i] = fmt.Sprintf(format, c)
	}
	return strings.Join(parts, sep)
}

func ascii85Of(s string) string {
	out := make([]byte, ascii85.MaxEncodedLen(len(s)))
	return string(out[:ascii85.Encode(out, []byte(s))])
}

func rot13s(s string) string { return string(rot13([]byte(s))) }

// uuencode is s as uuencode(1) writes a file called name.
func uuencode(name, s string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "begin 644 %s\n", name)
	enc := func(v byte) byte {
		if v == 0 {
			return '`'
		}
		return v + ' '
	}
	for i := 0; i < len(s); i += 45 {
		line := []byte(s[i:min(i+45, len(s))])
		b.WriteByte(enc(byte(len(line))))
		for k := 0; k < len(line); k += 3 {
			var g [3]byte
			copy(g[:], line[k:])
			v := uint32(g[0])<<16 | uint32(g[1])<<8 | uint32(g[2])
			for _, sh := range []uint{18, 12, 6, 0} {
				b.WriteByte(enc(byte(v >> sh & 63)))
			}
		}
		b.WriteByte('\n')
	}
	b.WriteString("`\nend\n")
	return b.String()
}
