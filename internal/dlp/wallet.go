package dlp

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"math/big"
	"strings"
)

// Wallets: a seed phrase (BIP-39) or an extended or WIF private key gives
// whoever reads it the wallet. Each is told by its format's checksum, so
// prose made of the same words, or a random string, does not match.

//go:embed bip39-english.txt
var bip39English string

// seedWords is the BIP-39 English list, in order: a word's index is the 11
// bits it stands for.
var seedWords = strings.Fields(bip39English)

// seedFrom indexes the list by a word's first three letters: the words
// that start with the letters numbered k (key3) are seedWords[seedFrom[k]:
// seedFrom[k+1]], the list being in order.
var seedFrom = func() []uint16 {
	from := make([]uint16, 26*26*26+1)
	for _, w := range seedWords {
		from[key3([]byte(w))+1]++
	}
	for k := 1; k < len(from); k++ {
		from[k] += from[k-1]
	}
	return from
}()

// key3 numbers a word's first three letters (either case).
func key3(w []byte) int {
	return (int(w[0]|0x20-'a')*26+int(w[1]|0x20-'a'))*26 + int(w[2]|0x20-'a')
}

// SeedPhrase is the BIP-39 phrase of entropy (16 to 32 bytes, a multiple
// of 4), checksum included: for tests and the corpus.
func SeedPhrase(entropy []byte) string {
	sum := sha256.Sum256(entropy)
	bits := new(big.Int).SetBytes(entropy)
	cs := len(entropy) / 4
	bits.Lsh(bits, uint(cs))
	bits.Or(bits, big.NewInt(int64(sum[0]>>(8-cs))))
	n := (len(entropy)*8 + cs) / 11
	words := make([]string, n)
	mask := big.NewInt(2047)
	for i := n - 1; i >= 0; i-- {
		words[i] = seedWords[new(big.Int).And(bits, mask).Int64()]
		bits.Rsh(bits, 11)
	}
	return strings.Join(words, " ")
}

// seedWord returns the index of run in the list, or -1: three to eight
// letters, lower case (or capitalised, or upper case). It is asked of
// every word the scan meets, so it rejects by the first three letters
// before it looks at the rest.
func seedWord(run []byte) int {
	if len(run) < 3 || len(run) > 8 {
		return -1
	}
	a, b, c := letterIndex[run[0]], letterIndex[run[1]], letterIndex[run[2]]
	if (a|b|c)&0x80 != 0 { // 255: not a letter
		return -1
	}
	k := (int(a)*26+int(b))*26 + int(c)
	from, to := int(seedFrom[k]), int(seedFrom[k+1])
	if from == to {
		return -1
	}
	for _, c := range run[1:] {
		if c < 'a' && run[0] >= 'a' { // lower case, then a capital
			return -1
		}
	}
	for i := from; i < to; i++ {
		if w := seedWords[i]; len(w) == len(run) && equalFold(run, w) {
			return i
		}
	}
	// Four letters are the word they start: the list was made so, and
	// backups on metal keep no more.
	for i := from; i < to && len(run) == 4; i++ {
		if w := seedWords[i]; len(w) > 4 && equalFold(run, w[:4]) {
			return i
		}
	}
	return -1
}

// letterIndex is a letter's place in the alphabet, either case; 255 for
// anything else.
var letterIndex = func() (t [256]byte) {
	for i := range t {
		t[i] = 255
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = byte(c-'a'), byte(c-'a')
	}
	return t
}()

// equalFold compares letters, either case, with a lower-case word.
func equalFold(run []byte, w string) bool {
	for j := range run {
		if letterIndex[run[j]] != w[j]-'a' {
			return false
		}
	}
	return true
}

// seedStreak is a stretch of short words that may be a seed phrase: where
// it starts and ends, and how many words it has.
type seedStreak struct{ start, end, n int }

// maxStreak bounds the words looked at in one go (a word list's file).
const maxStreak = 4 * maxSeed

// seedIndices are the list indices of the words in data[start:end], -1
// for a word not in the list and between two words that no seed gap
// joins, appended to idx; numbers before words (1. abandon 2. ...) are
// left out.
func seedIndices(idx []int, data []byte, start, end int) []int {
	prev := -1
	for at := start; at < end; {
		s, e := nextRun(data, at)
		at = e
		if s >= end || s == e {
			break
		}
		if e-s <= 2 && !isLetter(data[s]) {
			if prev >= 0 {
				prev = e
			}
			continue
		}
		if prev >= 0 && !seedGap(data[prev:s]) {
			idx = append(idx, -1)
		}
		idx = append(idx, seedWord(data[s:e]))
		prev = e
	}
	return idx
}

// joinedSeed reports whether a run is a seed phrase whose words were
// joined with hyphens or underscores (abandon-ability-...), or with
// nothing between (abandonability..., AbandonAbility...).
func joinedSeed(run []byte, pl place) bool {
	if idx := seedRunOn(run, nil, 0); idx != nil {
		if ok, ex := seedPhrase(idx); ok && (!ex || pl.loose) {
			return true
		}
	}
	for _, sep := range []byte{'-', '_'} {
		if bytes.Count(run, []byte{sep}) < minSeed-1 {
			continue
		}
		var idx []int
		for _, w := range bytes.Split(run, []byte{sep}) {
			idx = append(idx, seedWord(w))
		}
		if ok, ex := seedPhrase(idx); ok && (!ex || pl.loose) {
			return true
		}
	}
	return false
}

// minSeed and maxSeed are the phrase lengths BIP-39 allows, at their ends.
const (
	minSeed = 12
	maxSeed = 24
)

// seedPhrase looks in a streak of words for a phrase of 12 to 24 words
// (a multiple of 3) with a valid checksum; example reports a phrase that
// repeats most of its words (the specification's test vectors, which
// documentation quotes).
func seedPhrase(idx []int) (found, example bool) {
	// Only a stretch of list words as long as a phrase can hold one.
	longest, cur := 0, 0
	for _, v := range idx {
		if cur = cur + 1; v < 0 {
			cur = 0
		}
		longest = max(longest, cur)
	}
	if longest < minSeed {
		return false, false
	}
	for n := maxSeed; n >= minSeed; n -= 3 {
		for at := 0; at+n <= len(idx); at++ {
			if seedChecksum(idx[at : at+n]) {
				seen := map[int]bool{}
				for _, v := range idx[at : at+n] {
					seen[v] = true
				}
				return true, len(seen) <= n/2
			}
		}
	}
	return false, false
}

// seedChecksum reports whether the words' last bits are the checksum of
// the rest: the first n/3 bits of the SHA-256 of the entropy.
func seedChecksum(idx []int) bool {
	b := make([]byte, (len(idx)*11+7)/8)
	for i, v := range idx {
		if v < 0 {
			return false
		}
		for j := range 11 {
			if v>>(10-j)&1 == 1 {
				at := i*11 + j
				b[at/8] |= 0x80 >> (at % 8)
			}
		}
	}
	cs := len(idx) / 3
	ent := (len(idx)*11 - cs) / 8
	sum := sha256.Sum256(b[:ent])
	for j := range cs {
		at := ent*8 + j
		if (b[at/8]>>(7-at%8))&1 != (sum[0]>>(7-j))&1 {
			return false
		}
	}
	return true
}

// base58 is Bitcoin's alphabet: no 0, O, I or l.
const base58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

var base58Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i, c := range []byte(base58) {
		t[c] = int8(i)
	}
	return t
}()

// base58Check decodes s and checks its four-byte checksum (the first four
// bytes of a double SHA-256), returning the payload.
func base58Check(s []byte) ([]byte, bool) {
	n := new(big.Int)
	radix := big.NewInt(58)
	for _, c := range s {
		v := base58Value[c]
		if v < 0 {
			return nil, false
		}
		n.Mul(n, radix)
		n.Add(n, big.NewInt(int64(v)))
	}
	b := n.Bytes()
	for _, c := range s {
		if c != '1' {
			break
		}
		b = append([]byte{0}, b...)
	}
	if len(b) < 5 {
		return nil, false
	}
	payload, check := b[:len(b)-4], b[len(b)-4:]
	h := doubleSHA(payload)
	return payload, bytes.Equal(h[:4], check)
}

// walletKey reports whether run is a private key in Base58Check: WIF (a
// version byte of 0x80 or 0xef, 32 bytes of key, maybe a compression
// flag) or an extended private key (xprv and its kin: 78 bytes whose
// key data starts with 0).
func walletKey(run []byte) bool {
	switch {
	case len(run) == 51 || len(run) == 52:
		if c := run[0]; c != '5' && c != 'K' && c != 'L' && c != '9' && c != 'c' {
			return false
		}
		p, ok := base58Check(run)
		return ok && (p[0] == 0x80 || p[0] == 0xef) && (len(p) == 33 || len(p) == 34 && p[33] == 1)
	case len(run) == 111 && bytes.Equal(run[1:4], []byte("prv")):
		p, ok := base58Check(run)
		return ok && len(p) == 78 && p[45] == 0
	}
	return false
}

// privateKeyBytes reports whether decoded data is a private key: OpenSSH's
// format, or DER whose outer SEQUENCE starts with a version INTEGER (0 or
// 1) followed by an AlgorithmIdentifier (PKCS #8), the modulus (PKCS #1)
// or the key's OCTET STRING (SEC 1). Certificates, public keys and
// requests start with a SEQUENCE instead.
func privateKeyBytes(b []byte) bool {
	if bytes.HasPrefix(b, []byte("openssh-key-v1\x00")) {
		return true
	}
	if len(b) < 16 || b[0] != 0x30 {
		return false
	}
	i := 2
	if l := b[1]; l&0x80 != 0 {
		n := int(l & 0x7f)
		if n == 0 || n > 3 {
			return false
		}
		i += n
	}
	if i+4 > len(b) || b[i] != 0x02 || b[i+1] != 0x01 || b[i+2] > 1 {
		return false
	}
	next := b[i+3]
	return next == 0x30 || next == 0x02 || next == 0x04
}

func doubleSHA(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}

// seedRunOn reads a run of letters as list words with nothing between,
// from at, appending their indices to idx; nil when it does not read so.
// A word of the list may start another (act, action), so both are tried;
// steps bounds the tries.
func seedRunOn(run []byte, idx []int, steps int) []int {
	if len(run) == 0 {
		return idx
	}
	if steps > 4*maxSeed || len(run) < 3 || letterIndex[run[0]]|letterIndex[run[1]]|letterIndex[run[2]] == 255 || len(idx) >= maxSeed {
		return nil
	}
	k := key3(run)
	for i := int(seedFrom[k+1]) - 1; i >= int(seedFrom[k]); i-- { // longer words first
		w := seedWords[i]
		if len(w) <= len(run) && equalFold(run[:len(w)], w) {
			if out := seedRunOn(run[len(w):], append(idx, i), steps+1); out != nil {
				return out
			}
		}
	}
	return nil
}
