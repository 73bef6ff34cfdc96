package dlp

import "bytes"

// A private key as a JSON Web Key (RFC 7517): an object with "kty" and
// the private members of its type (RSA's d, p, q and the rest, an EC or
// OKP key's d, a symmetric key's k), base64url. Also inside a JSON string
// (\"d\"). A public key has none of them.

var ktyMark = []byte("kty")

// jwkReach is how far from "kty" a key's private member may be: past an
// RSA key's modulus of 8192 bits.
const jwkReach = 4096

// jwkKey reports whether data holds a JSON Web Key with a private member.
func jwkKey(data []byte) bool {
	for at := 0; at < len(data); {
		i := bytes.Index(data[at:], ktyMark)
		if i < 0 {
			return false
		}
		i += at
		if privateMember(data[max(0, i-jwkReach):min(len(data), i+jwkReach)]) {
			return true
		}
		at = i + len(ktyMark)
	}
	return false
}

// privateMember reports whether w holds a JWK's private member with a
// value: "d": "..." (or \"d\":\"...\" in a string), of 16 base64url
// characters or more.
func privateMember(w []byte) bool {
	for at := 0; at < len(w); {
		i := bytes.IndexByte(w[at:], '"')
		if i < 0 {
			return false
		}
		i += at
		at = i + 1
		j := i + 1
		for j < len(w) && j-i <= 3 && 'a' <= w[j] && w[j] <= 'z' {
			j++
		}
		switch string(w[i+1 : j]) {
		case "d", "k", "p", "q", "dp", "dq", "qi":
		default:
			continue
		}
		if j < len(w) && w[j] == '\\' {
			j++
		}
		if j >= len(w) || w[j] != '"' {
			continue
		}
		j = skipSpace(w, j+1)
		if j >= len(w) || w[j] != ':' {
			continue
		}
		j = skipSpace(w, j+1)
		if j < len(w) && w[j] == '\\' {
			j++
		}
		if j >= len(w) || w[j] != '"' {
			continue
		}
		k := j + 1
		for k < len(w) && (isAlnum(w[k]) || w[k] == '-' || w[k] == '_') {
			k++
		}
		if k-j-1 >= 16 {
			return true
		}
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
