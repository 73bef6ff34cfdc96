package dlp

import (
	"bytes"
	"encoding/base64"
)

// jwtAt reports whether a JWT (a JWS or a JWE in compact form) has its
// header at the end of the run at [start, end), which a dot follows: the
// header is base64url of a JSON object that names an "alg", whatever its
// spacing (eyJ, ewog, eyAi ...), and another segment follows the dot (the
// signature of an unsigned token, or a JWE's key, may be empty). Where it
// appears does not matter: a query value, a cookie, a header, a body.
func jwtAt(data []byte, start, end int) bool {
	seg := start
	for i := end - 1; i >= start; i-- {
		if c := data[i]; !isAlnum(c) && c != '-' && c != '_' {
			seg = i + 1
			break
		}
	}
	h := data[seg:end]
	if len(h) < 10 || h[0] != 'e' || h[1] < 'w' || h[1] > 'z' {
		return false
	}
	h = h[:min(len(h), 1024)]
	if len(h)%4 == 1 {
		h = h[:len(h)-1]
	}
	dec, err := base64.RawURLEncoding.DecodeString(string(h))
	if err != nil || !bytes.Contains(dec, []byte(`"alg"`)) {
		return false
	}
	next := end + 1
	return next < len(data) && (data[next] == '.' || isAlnum(data[next]) || data[next] == '-' || data[next] == '_')
}
