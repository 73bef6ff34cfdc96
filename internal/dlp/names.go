package dlp

import (
	"slices"
	"strings"
)

// strongName reports whether a name says its value is a credential
// outright, whatever the value looks like: one of its words is token,
// secret, password, passphrase, credential or authorization, or an API,
// access, secret or private key; and its last word does not say it holds
// something about one instead (a token's type, a password's file, a key's
// header, a secret's store).
func strongName(name string) bool {
	var w nameWords
	w.split(name)
	strong := false
	for i := range w.n() {
		switch string(w.at(i)) {
		case "secret", "password", "passwd", "pwd", "passphrase", "credential", "credentials", "authorization",
			"apikey", "accesskey", "secretkey", "privatekey", "mnemonic":
			strong = true
		case "token":
			strong = strong || i == 0 || !pageToken[string(w.at(i-1))]
		case "key":
			if i > 0 {
				switch string(w.at(i - 1)) {
				case "api", "access", "secret", "private", "signing", "master", "encryption", "client", "auth":
					strong = true
				}
			}
		}
	}
	return strong && !describing[string(w.at(w.n()-1))]
}

// describing are the last words of names that hold something about a
// credential, not the credential.
var describing = map[string]bool{"type": true, "types": true, "policy": true, "length": true, "len": true,
	"method": true, "manager": true, "url": true, "uri": true, "endpoint": true, "path": true, "file": true,
	"dir": true, "name": true, "id": true, "count": true, "expiry": true, "expires": true, "expiration": true,
	"seconds": true, "ttl": true, "timeout": true, "header": true, "format": true, "version": true, "mode": true,
	"kind": true, "hint": true, "required": true, "enabled": true, "min": true, "max": true, "limit": true,
	"size": true, "store": true, "provider": true, "source": true, "env": true, "field": true, "prompt": true,
	"label": true, "rotation": true, "algorithm": true, "scope": true, "scopes": true, "audience": true,
	"issuer": true, "prefix": true, "location": true, "ref": true, "arn": true}

// strongEnding is strongName's first look, for the scan loop: the last
// three letters of a name strongName may take (secRET, passWORD, tOKEN,
// KEY, ...), in either case, or a credential's word inside it.
func strongEnding(name []byte) bool {
	if len(name) < 3 {
		return false
	}
	switch string([]byte{name[len(name)-3] | 0x20, name[len(name)-2] | 0x20, name[len(name)-1] | 0x20}) {
	case "ret", "ord", "swd", "pwd", "ase", "ial", "als", "ion", "key", "ken", "nic":
		return true
	}
	// A credential's word before another (client_secret_value, tokenStr),
	// found in one pass: the scan asks this of many names.
	for i, c := range name {
		switch c | 0x20 {
		case 's':
			if hasPrefixFold(name[i:], "secret") {
				return true
			}
		case 't':
			if hasPrefixFold(name[i:], "token") {
				return true
			}
		case 'p':
			if hasPrefixFold(name[i:], "passw") {
				return true
			}
		}
	}
	return false
}

// hasPrefixFold reports whether b starts with the lower-case word, in
// either case.
func hasPrefixFold(b []byte, word string) bool {
	if len(b) < len(word) {
		return false
	}
	for j := range len(word) {
		if b[j]|0x20 != word[j] {
			return false
		}
	}
	return true
}

// nameBefore returns the name that a value starting at data[at] is given:
// name: value, "name": "value", name = value, also with an
// authentication scheme between (Authorization: Bearer value).
func nameBefore(data []byte, at int) []byte {
	i := at
	skip := func() {
		for i > 0 && (data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '"' || data[i-1] == '\'' || data[i-1] == '`') {
			i--
		}
	}
	skip()
	// A scheme word (Bearer, Basic, token) between the name and the value.
	if j := i; j > 0 && tokenChar[data[j-1]] {
		k := j
		for k > 0 && tokenChar[data[k-1]] && j-k < 8 {
			k--
		}
		switch strings.ToLower(string(data[k:j])) {
		case "bearer", "basic", "token", "bot":
			i = k
			skip()
		}
	}
	if i == 0 || data[i-1] != ':' && data[i-1] != '=' {
		return nil
	}
	i--
	skip()
	end := i
	for i > 0 && (tokenChar[data[i-1]] || data[i-1] == '.') && end-i < 64 {
		i--
	}
	if i == end {
		return nil
	}
	return data[i:end]
}

// credentialName reports whether a field, header, variable or cookie name
// says it holds a credential.
func credentialName(name string) bool {
	var w nameWords
	w.split(name)
	for i := range w.n() {
		switch string(w.at(i)) {
		case "token":
			if i == 0 || !pageToken[string(w.at(i-1))] {
				return true
			}
		case "secret", "secrets", "password", "passwd", "passphrase", "pwd", "pass", "credential",
			"credentials", "auth", "authorization", "bearer", "apikey", "mnemonic", "privatekey", "accesskey",
			"secretkey", "jwt", "cookie":
			return true
		case "key", "keys":
			if i == 0 {
				return true
			}
			switch string(w.at(i - 1)) {
			case "api", "access", "private", "secret", "signing", "master", "encryption", "license", "auth", "client", "account", "service":
				return true
			case "public", "pub", "sort", "cache", "primary", "foreign", "partition", "object", "idempotency",
				"websocket", "host", "lookup", "hash", "map", "row", "group", "unique", "routing", "dedup", "ssh", "gpg":
				return false
			default:
				return i == w.n()-1 // the name ends in key: FOO_KEY, stripeKey
			}
		}
	}
	return false
}

// nameWords are the words of a name, lower case, split at punctuation and
// at camelCase humps: x-api-key, AWS_SECRET_ACCESS_KEY, secretAccessKey.
// A caller keeps them on its stack, since the scan asks about many names:
// the letters and where each word ends, in arrays that only a long name
// outgrows onto the heap.
type nameWords struct {
	letters [64]byte
	ends    [16]int
	more    []byte // the letters, when they outgrow the array
	moreEnd []int
	count   int
}

func (w *nameWords) split(name string) {
	letters, ends := w.letters[:0], w.ends[:0]
	from := 0 // where the word being read starts
	end := func() {
		if len(letters) > from {
			ends, from = append(ends, len(letters)), len(letters)
		}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isUpper(c) && i > 0 && 'a' <= name[i-1] && name[i-1] <= 'z':
			end()
			letters = append(letters, lower(c))
		case isAlnum(c):
			letters = append(letters, lower(c))
		default:
			end()
		}
	}
	end()
	w.count = len(ends)
	if len(letters) > len(w.letters) || len(ends) > len(w.ends) {
		// Copies: w keeps no pointer into itself, which would move it to the heap.
		w.more, w.moreEnd = slices.Clone(letters), slices.Clone(ends)
	}
}

func (w *nameWords) n() int { return w.count }

func (w *nameWords) at(i int) []byte {
	letters, ends := w.letters[:], w.ends[:]
	if w.more != nil {
		letters, ends = w.more, w.moreEnd
	}
	from := 0
	if i > 0 {
		from = ends[i-1]
	}
	return letters[from:ends[i]]
}

func lower(c byte) byte {
	if isUpper(c) {
		return c + 'a' - 'A'
	}
	return c
}
