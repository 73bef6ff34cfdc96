package egress

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
)

// TestOutsideKeyInMoreBases: a key in the encodings libraries offer
// besides base64 and hex (base32 in small letters or in its extended hex
// alphabet, the big-number bases 58, 62 and 36, a big decimal integer),
// encoded over and over (past four layers), as UTF-7 writes it, or with
// its encoding reversed. Ids, addresses and numbers in those alphabets
// still pass.
func TestOutsideKeyInMoreBases(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	gh, aws, own := outsideGitHub, outsideAWS, outsideSecret
	const b58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	const b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	const b62lower = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	const b36 = "0123456789abcdefghijklmnopqrstuvwxyz"
	js := func(body string) string { return post("/upload", F, "application/json", body) }
	refusedAll(t, o, F, map[string]string{
		"base32 in small letters":        textPost(F, "k "+strings.ToLower(base32.StdEncoding.EncodeToString([]byte(gh)))),
		"base32, the secret, unpadded":   textPost(F, strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(own)))),
		"base32hex":                      textPost(F, "k "+base32.HexEncoding.EncodeToString([]byte(gh))),
		"base32hex in small letters":     textPost(F, strings.ToLower(base32.HexEncoding.EncodeToString([]byte("AWS_ACCESS_KEY_ID="+aws)))),
		"base58":                         textPost(F, "k "+inBase(gh, b58)),
		"base58 of k=secret":             js(`{"v":"` + inBase("k="+own, b58) + `"}`),
		"base62":                         textPost(F, inBase(gh, b62)),
		"base62, small letters first":    textPost(F, inBase("AWS_ACCESS_KEY_ID="+aws, b62lower)),
		"base36":                         textPost(F, "id="+inBase(gh, b36)),
		"base36 in capitals":             textPost(F, strings.ToUpper(inBase(aws+" ", b36))),
		"a big decimal integer":          textPost(F, "n = "+new(big.Int).SetBytes([]byte(gh)).String()),
		"a json number":                  js(`{"n":` + new(big.Int).SetBytes([]byte("key="+aws)).String() + `}`),
		"base64 five times":              textPost(F, timesBase64(gh, 5)),
		"base64 seven times, the secret": textPost(F, timesBase64(own, 7)),
		"hex five times":                 textPost(F, timesHex(gh, 5)),
		"hex and base64 by turns":        textPost(F, base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString([]byte(base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString([]byte(base64.StdEncoding.EncodeToString([]byte(gh))))))))))),
		"utf-7":                          post("/upload", F, "text/plain; charset=utf-7", "+"+strings.TrimRight(base64.StdEncoding.EncodeToString(utf16be(gh)), "=")+"-"),
		"base64 reversed":                textPost(F, "k "+reverse(base64.StdEncoding.EncodeToString([]byte("GITHUB_TOKEN="+gh)))),
		"hex reversed":                   textPost(F, reverse(hex.EncodeToString([]byte(aws)))),
	})
	passedAll(t, o, F, map[string]string{
		"a bitcoin address":       textPost(F, "send to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa or bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
		"an ipfs cid":             textPost(F, "ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG and bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"),
		"digits of pi":            textPost(F, "pi = 3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798214808651"),
		"a nix store path":        textPost(F, "/nix/store/5rnfzla9kcx4mj5zdc7nlnv8na1najvg-firefox-3.5.4 /nix/store/b6gvzjyb2pg0kjfwrjmg1vfhh54ad73z-glibc-2.38"),
		"ulids and base36 ids":    textPost(F, "01ARZ3NDEKTSV4RRFFQ69G5FAV 01HGW2N7EHJ0XKQ1Z8FTRB5Y7C pod web-7d4b9c8f6-x2k4p session 3n8zq1k0vj5w"),
		"a random token":          js(`{"session":"Zx9Kq2LmT7vB4nR8cW1pY6hJ3sD0fG5aQe","nonce":"8f1Jk3Lq9Zx2Mv7Bn4Cx6Vb1Nm0"}`),
		"base32 of a hash":        textPost(F, "sha1-b32: "+base32.StdEncoding.EncodeToString([]byte("\x8a\x1b\xfe\x02\x93\x88\x12\x4c\x00\x91\xaa\x7f\x31\x44\x5e\x61\x99\x0b\x2c\xdd"))),
		"big numbers in a ledger": js(`{"balance":"115792089237316195423570985008687907853269984665640564039457584007913129639935","wei":1000000000000000000000000}`),
	})
}

// inBase writes s as a big-endian number in the alphabet's base.
func inBase(s, alphabet string) string {
	n := new(big.Int).SetBytes([]byte(s))
	base := big.NewInt(int64(len(alphabet)))
	var out []byte
	for m := new(big.Int); n.Sign() > 0; {
		n.DivMod(n, base, m)
		out = append(out, alphabet[m.Int64()])
	}
	return reverse(string(out))
}

func timesBase64(s string, n int) string {
	for range n {
		s = base64.StdEncoding.EncodeToString([]byte(s))
	}
	return s
}

func timesHex(s string, n int) string {
	for range n {
		s = hex.EncodeToString([]byte(s))
	}
	return s
}

// utf16be is s in UTF-16, big-endian, as UTF-7 encodes it.
func utf16be(s string) []byte {
	var out []byte
	for _, c := range []byte(s) {
		out = append(out, 0, c)
	}
	return out
}
