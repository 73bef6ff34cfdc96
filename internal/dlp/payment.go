package dlp

// Payment data: an agent has no business sending card numbers or bank
// accounts anywhere, so both are found by default (a route may turn them off).

// card reports whether a card number starts at data[start]: 13 to 19
// digits, alone or in groups of 3 to 6 kept apart by one repeated space or
// dash, with a card network's prefix and a valid Luhn check digit.
func card(data []byte, start int) bool {
	if start > 0 && (data[start-1] == '.' || isAlnum(data[start-1])) {
		return false // a float's fraction, part of a word
	}
	var digits [19]byte
	n, group, sep, i := 0, 0, byte(0), start
	for ; i < len(data); i++ {
		c := data[i]
		if isDigit(c) {
			if n == len(digits) {
				return false
			}
			digits[n], n, group = c-'0', n+1, group+1
			continue
		}
		if (c == ' ' || c == '-') && (sep == 0 || sep == c) && i+1 < len(data) && isDigit(data[i+1]) {
			if group < 3 || group > 6 {
				return false
			}
			sep, group = c, 0
			continue
		}
		break
	}
	if i < len(data) && (isAlnum(data[i]) || data[i] == '.' && i+1 < len(data) && isDigit(data[i+1])) {
		return false
	}
	if sep != 0 && (group < 3 || group > 6) {
		return false
	}
	return n >= 13 && network(digits[:n]) && luhn(digits[:n])
}

// network reports whether the number has the prefix and length of a card
// network: Visa, Mastercard, American Express, Discover, JCB, Diners, UnionPay.
func network(d []byte) bool {
	prefix := func(k int) int {
		v := 0
		for _, c := range d[:k] {
			v = v*10 + int(c)
		}
		return v
	}
	n := len(d)
	switch p2, p4 := prefix(2), prefix(4); {
	case d[0] == 4:
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720:
		return n == 16
	case p2 == 34 || p2 == 37:
		return n == 15
	case p4 == 6011, p2 == 65, prefix(3) >= 644 && prefix(3) <= 649, p2 == 62:
		return n >= 16
	case p4 >= 3528 && p4 <= 3589:
		return n >= 16
	case p2 == 36 || p2 == 38 || p2 == 39 || prefix(3) >= 300 && prefix(3) <= 305:
		return n >= 14
	}
	return false
}

func luhn(d []byte) bool {
	sum := 0
	for i := range d {
		v := int(d[len(d)-1-i])
		if i%2 == 1 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// ibanLengths is the length of an IBAN in each country that issues them.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
	"BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
	"ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
	"HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
	"LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
	"MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
	"RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

// ibanLength is ibanLengths by the country's two letters, for the scan loop.
var ibanLength = func() (t [26][26]uint8) {
	for cc, n := range ibanLengths {
		t[cc[0]-'A'][cc[1]-'A'] = uint8(n)
	}
	return t
}()

func isIBANStart(run []byte) bool {
	return len(run) >= 4 && isDigit(run[2]) && isDigit(run[3]) && isUpper(run[0]) && isUpper(run[1]) &&
		ibanLength[run[0]-'A'][run[1]-'A'] > 0
}

// iban reports whether an IBAN starts at data[start], written whole or in
// groups of four kept apart by single spaces, of its country's length and
// with valid check digits (mod 97).
func iban(data []byte, start int) bool {
	want := int(ibanLength[data[start]-'A'][data[start+1]-'A'])
	var chars []byte
	i := start
	for ; i < len(data) && len(chars) < want; i++ {
		c := data[i]
		switch {
		case isUpper(c) || isDigit(c):
			chars = append(chars, c)
		case c == ' ' && len(chars)%4 == 0 && i+1 < len(data) && (isUpper(data[i+1]) || isDigit(data[i+1])):
		default:
			return false
		}
	}
	if len(chars) != want || i < len(data) && isAlnum(data[i]) {
		return false
	}
	// Move the country and check digits to the end, letters to numbers, mod 97.
	rem := 0
	for _, c := range append(chars[4:], chars[:4]...) {
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A'+10)) % 97
		}
	}
	return rem == 1
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool { return isDigit(c) || isUpper(c) || 'a' <= c && c <= 'z' }
