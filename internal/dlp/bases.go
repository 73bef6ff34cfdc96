package dlp

import (
	"bytes"
	"encoding/base32"
	"math/big"
)

// Encodings libraries offer besides base64 and hex: base32 in small
// letters, and in its extended hex alphabet (RFC 4648's base32hex); the
// big-number bases, where the whole run is one number written in an
// alphabet (base58 as Bitcoin writes it, base62 in both orders of its
// letters, base36, a decimal integer), as base-x, bs58 and int.from_bytes
// write a string; UTF-7's base64 of UTF-16. A big-number run is decoded
// whole (no part of it stands for part of the bytes), so only runs of up
// to maxBigRun characters are, and what they decode to is scanned only
// when it is text: random ids decode to random bytes. These are read where
// the glued views are (glued.go): looking at each long run's letters cost
// the scan of code a few percent.

// maxBigRun bounds the runs decoded as one big number (the conversion
// grows with the square of the length): a key with a name before it, in
// base 10, is a fifth of it.
const maxBigRun = 512

// minBigRun is the shortest run decoded as a big number: a 16-byte key in
// base 62 is 22 characters.
const minBigRun = 20

var (
	base32Lower    = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	base32Hex      = base32.HexEncoding.WithPadding(base32.NoPadding)
	base32HexLower = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)
)

// moreDecodings are what a run decodes to in these encodings, when it
// looks like one of them.
func moreDecodings(run []byte, out []decoded) []decoded {
	var lower, upper, sign bool
	var maxLower, maxUpper byte
	digits := 0
	for _, c := range run {
		switch charClass[c] {
		case 1:
			digits++
		case 2:
			lower, maxLower = true, max(maxLower, c)
		case 3:
			upper, maxUpper = true, max(maxUpper, c)
		default:
			sign = true
		}
	}
	trimmed := bytes.TrimRight(run, "=")
	if len(trimmed) >= 24 && !bytes.ContainsAny(trimmed, "=+/-_") {
		// base32 in small letters (2 to 7 its digits), base32hex (0 to 9,
		// a to v) in either case.
		switch {
		case lower && !upper && !bytes.ContainsAny(trimmed, "0189"):
			out = appendDecoded(out, "base32", base32Lower, trimmed)
		}
		switch {
		case lower && !upper && maxLower <= 'v':
			out = appendDecoded(out, "base32hex", base32HexLower, trimmed)
		case upper && !lower && maxUpper <= 'V':
			out = appendDecoded(out, "base32hex", base32Hex, trimmed)
		}
	}
	// A number in a big base has digits among its letters (two or more in
	// all but a few of the 20 characters or more a key takes); names in
	// code seldom do.
	if len(run) >= minBigRun && len(run) <= maxBigRun && !sign && digits >= 2 {
		switch {
		case !lower && !upper:
			if len(run) >= 30 { // a card number, a timestamp are shorter
				out = bigNumber(out, "decimal", run, 10, nil)
			}
		case lower != upper:
			out = bigNumber(out, "base36", bytes.ToLower(run), 36, nil)
		case lower && upper:
			if !bytes.ContainsAny(run, "0OIl") {
				out = bigNumber(out, "base58", run, 58, base58Digits[:])
			}
			out = bigNumber(out, "base62", run, 62, nil)         // 0-9, a-z, A-Z, as math/big reads it
			out = bigNumber(out, "base62", run, 62, swapCase[:]) // 0-9, A-Z, a-z
		}
	}
	// UTF-7: a shifted stretch, + base64 of UTF-16 -.
	if len(run) >= 8 && run[0] == '+' && run[len(run)-1] == '-' {
		if d := decodeBase64(run[1 : len(run)-1]); d != nil {
			out = append(out, decoded{"utf-7", d})
		}
	}
	return out
}

func appendDecoded(out []decoded, name string, e *base32.Encoding, b []byte) []decoded {
	if d, err := e.DecodeString(string(b)); err == nil {
		out = append(out, decoded{name, d})
	}
	return out
}

// bigNumber appends the bytes the run stands for as one number in base,
// each character first mapped through digits (to math/big's alphabet:
// 0-9, a-z, A-Z) when it is given, when they are text.
func bigNumber(out []decoded, name string, run []byte, base int, digits []byte) []decoded {
	s := run
	if digits != nil {
		s = make([]byte, len(run))
		for i, c := range run {
			if s[i] = digits[c]; s[i] == 0 {
				return out
			}
		}
	}
	n, ok := new(big.Int).SetString(string(s), base)
	if !ok {
		return out
	}
	if b := n.Bytes(); len(b) >= minSecret && text(b) {
		out = append(out, decoded{name, b})
	}
	return out
}

// text reports whether b is printable ASCII and white space, as a key
// with its name is.
func text(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}

// bigAlphabet is math/big's alphabet for bases past 36.
const bigAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// base58Digits maps Bitcoin's base58 alphabet to math/big's (0 for no
// digit); swapCase maps base62 with capitals first to it.
var base58Digits, swapCase = func() (b58, swap [256]byte) {
	for v, c := range []byte("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz") {
		b58[c] = bigAlphabet[v]
	}
	for v, c := range []byte("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
		swap[c] = bigAlphabet[v]
	}
	return b58, swap
}()
