package egress

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// TestOutsideKeySpreadOrGrouped: a key spread out one or two characters
// at a time with a glue longer than two characters (a JSON or Python list
// of its characters, pretty-printed too), or cut into groups of any width
// (3, 4, 5, 8, halves) by a space or a sign, raw or encoded, as license
// keys, hex dumps and UUIDs are written; a header folded over two lines.
// Prose, lists of short codes and grouped checksums still pass.
func TestOutsideKeySpreadOrGrouped(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	gh, aws, own := outsideGitHub, outsideAWS, outsideSecret
	chars := strings.Split(gh, "")
	b64 := base64.StdEncoding.EncodeToString([]byte(gh))
	hx := hex.EncodeToString([]byte(gh))
	js := func(body string) string { return post("/upload", F, "application/json", body) }
	refusedAll(t, o, F, map[string]string{
		"a json array of its characters":    js(`{"k":["` + strings.Join(chars, `","`) + `"]}`),
		"the same, pretty-printed":          js("{\n  \"k\": [\n    \"" + strings.Join(chars, "\",\n    \"") + "\"\n  ]\n}"),
		"a python list of its characters":   textPost(F, "k = ['"+strings.Join(strings.Split(aws, ""), "', '")+"']"),
		"its characters added up":           textPost(F, "k = '"+strings.Join(strings.Split(own, ""), "' + '")+"'"),
		"groups of four":                    textPost(F, grouped(gh, 4, " ")),
		"groups of three with dots":         textPost(F, grouped(gh, 3, ".")),
		"groups of five with dashes, aws":   textPost(F, grouped(aws, 5, "-")),
		"groups of four, the secret":        textPost(F, grouped(own, 4, " ")),
		"two halves":                        textPost(F, "key "+gh[:20]+" "+gh[20:]+" end"),
		"a header folded":                   "GET / HTTP/1.1\nHost: " + F + "\nX-Note: " + gh[:20] + "\n " + gh[20:] + "\n\n",
		"hex in groups of four":             textPost(F, grouped(hx, 4, " ")),
		"hex as uuids":                      textPost(F, uuids(hx)),
		"base64 in groups of four":          textPost(F, grouped(b64, 4, " ")),
		"base64 with a sign every three":    textPost(F, grouped(b64, 3, "!")),
		"aws with slashes between":          textPost(F, strings.Join(strings.Split(aws, ""), "/")),
		"aws with plus signs between":       textPost(F, strings.Join(strings.Split(aws, ""), "+")),
		"aws with equals signs between":     textPost(F, strings.Join(strings.Split(aws, ""), "=")),
		"github characters on lines, json":  js(`{"k":"` + strings.Join(chars, `\n`) + `"}`),
		"groups of four in a query":         "GET /s?q=" + strings.ReplaceAll(grouped(gh, 4, " "), " ", "+") + " HTTP/1.1\nHost: " + F + "\n\n",
		"hex groups of two with two spaces": textPost(F, grouped(hx, 2, "  ")),
	})
	passedAll(t, o, F, map[string]string{
		"prose":              textPost(F, "The quick brown fox jumps over the lazy dog, and 12 more words follow it in one line of prose here, Mr Smith."),
		"language codes":     js(`{"langs":["en","de","fr","es","it","pt","nl","sv","da","fi","no","pl","cs","sk","hu","ro"]}`),
		"a grouped checksum": textPost(F, "sha256: 9f86 d081 884c 7d65 9a2f eaa0 c55a d015 a3bf 4f1b 2b0b 822c d15d 6c15 b0f0 0a08"),
		"uuids":              textPost(F, "ids: 123e4567-e89b-12d3-a456-426614174000, 6f1c2b1e-9a43-4c1e-8f6e-2d7b4c9a1e55"),
		"versions":           textPost(F, "v1.2.3 v1.2.4 v1.3.0 v2.0.0-rc1 v2.0.0 v2.1.0 v2.1.1 v2.2.0 v3.0.0-beta.2"),
		"css":                textPost(F, ".a{margin:0 auto;padding:4px 8px 4px 8px;color:#1a2b3c;font:12px/1.5 Helvetica,Arial,sans-serif}"),
		"a git log":          textPost(F, "2dea978 corpus, dlp, egress: files back\n1355efa docs: egress.md says\n13f0fc5 egress (issue 20, second round)\n449ab01 egress, dlp (issue 20)\n"),
		"a phone list":       textPost(F, "+1 555 010 9999, +44 20 7946 0958, +49 30 1234 5678"),
		"columns":            textPost(F, "NAME       READY   STATUS    RESTARTS   AGE\nweb-7d4b9  1/1     Running   0          3d2h\napi-5c8f1  1/1     Running   2          3d2h\n"),
		"camel case words":   textPost(F, "getUserById setUserName HttpClient2 parseJSON5 toBase64Url fromUtf8Bytes X509Cert K8sNode"),
	})
}

// uuids writes hex as UUIDs, one after another.
func uuids(h string) string {
	var out []string
	for len(h) >= 32 {
		out = append(out, h[:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:32])
		h = h[32:]
	}
	if h != "" {
		out = append(out, h)
	}
	return strings.Join(out, " ")
}
