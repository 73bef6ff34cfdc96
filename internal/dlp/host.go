package dlp

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Host names under a wildcard route: the labels left of the suffix are the
// agent's to choose, so they can carry data (<encoded>.example.com), and a
// name's case travels with it (DNS keeps it), so base64 fits too.
const (
	maxLabels      = 5  // labels under the suffix
	maxLabel       = 40 // characters in one label, hyphens aside
	encodedLabel   = 24 // from this length a piece is looked at for encoding
	shortEncoded   = 16 // and from this one, when digits are strewn among its letters
	maxSubdomain   = 100
	labelEntropy   = 3.5 // with digits among letters
	randomEntropy  = 4.2 // with or without
	textLabel      = 8   // from this length a piece is decoded to see if it is text
	hostLabelsRule = "host-labels"
)

// ScanHost looks at the part of host that a wildcard pattern (*.suffix)
// leaves free: too many or too long labels, labels that look encoded (hex,
// base32 or base64-like, high entropy), labels or their concatenation that
// decode (hex, base32, base64) to text, and secrets in them once joined
// and decoded. A pattern without a wildcard leaves nothing free.
func (s *Scanner) ScanHost(pattern, host string) *Finding {
	suffix, ok := strings.CutPrefix(pattern, "*.")
	if !ok {
		return nil
	}
	host = strings.TrimSuffix(host, ".")
	if len(host) <= len(suffix)+1 || !strings.EqualFold(host[len(host)-len(suffix)-1:], "."+suffix) {
		return nil
	}
	sub := host[:len(host)-len(suffix)-1]
	labels := strings.Split(sub, ".")
	joined := strings.Join(labels, "")
	for _, j := range []string{joined, strings.ToLower(joined)} {
		if f := s.Scan([]byte(j), "host"); f != nil {
			return f
		}
	}
	if s.off[hostLabelsRule] {
		return nil
	}
	bad := func() *Finding { return &Finding{Rule: hostLabelsRule, Where: "host"} }
	if len(labels) > maxLabels || len(sub) > maxSubdomain {
		return bad()
	}
	for _, l := range labels {
		if decodesToText(l) {
			return bad()
		}
		for _, piece := range strings.Split(l, "-") {
			lower := strings.ToLower(piece)
			if len(piece) > maxLabel || len(piece) >= encodedLabel && looksEncoded([]byte(lower)) ||
				len(piece) >= shortEncoded && strewn([]byte(lower)) || decodesToText(piece) {
				return bad()
			}
		}
	}
	if len(labels) > 1 && (decodesToText(joined) || decodesToText(strings.ReplaceAll(joined, "-", ""))) {
		return bad()
	}
	return nil
}

// looksEncoded is for lower-case host labels: hex, or letters and digits
// mixed at high entropy, or very high entropy alone.
func looksEncoded(b []byte) bool {
	digits := 0
	for _, c := range b {
		if isDigit(c) {
			digits++
		}
	}
	e := entropy(b)
	return allHex(b) && digits > 0 || digits >= 2 && e >= labelEntropy || e >= randomEntropy
}

// strewn reports whether a shorter piece looks random: digits strewn
// among its letters (an id, not a name with a number at its end, such as
// mystorageaccount123) at high entropy.
func strewn(b []byte) bool {
	switches := 0
	for i := 1; i < len(b); i++ {
		if isDigit(b[i]) != isDigit(b[i-1]) {
			switches++
		}
	}
	return switches >= 4 && entropy(b) >= labelEntropy
}

// decodesToText reports whether a label decodes, as hex, base32 (either
// case) or base64 (its case kept), to text: data someone encoded to pass
// as a name. Random names (ids, hashes) decode to bytes that are not.
func decodesToText(l string) bool {
	if len(l) < textLabel {
		return false
	}
	if allHex([]byte(l)) {
		d, err := hex.DecodeString(l[:len(l)&^1])
		return err == nil && isText(d)
	}
	up := strings.ToUpper(l)
	if allBase32([]byte(up)) {
		n := len(up)
		for n > 0 && n%8 != 0 && n%8 != 2 && n%8 != 4 && n%8 != 5 && n%8 != 7 {
			n--
		}
		if d, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(up[:n]); err == nil && isText(d) {
			return true
		}
	}
	b := []byte(l)
	if len(b)%4 == 1 {
		b = b[:len(b)-1]
	}
	for _, e := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding} {
		if d, err := e.DecodeString(string(b)); err == nil && isText(d) {
			return true
		}
	}
	return false
}

// isText reports whether b reads as the text data is written in: letters,
// digits and the few signs that join them (key=value, user:pass, a path, a
// mail address), never the other punctuation that random bytes hold.
func isText(b []byte) bool {
	if len(b) < 6 {
		return false
	}
	letters := 0
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			letters++
		case isDigit(c) || c == ' ' || c == '=' || c == ':' || c == '_' || c == '.' || c == '/' || c == '@' || c == '-':
		default:
			return false
		}
	}
	return letters > 0
}
