package dlp

import (
	"strings"
	"testing"
)

// Views of issue 20's third round, each of which carried a key past the
// scanner before it (found by an outside attacker's encodings).

type formCase struct{ name, data, rule string }

func findsAll(t *testing.T, s *Scanner, cases []formCase, benign []string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := s.Scan([]byte(tc.data), "body")
			if f == nil || f.Rule != tc.rule {
				t.Errorf("Scan(%.80q) = %+v, want rule %s", tc.data, f, tc.rule)
			}
		})
	}
	for _, data := range benign {
		if f := s.Scan([]byte(data), "body"); f != nil {
			t.Errorf("benign %.60q flagged as %+v", data, f)
		}
	}
}

func runesOf(s string, f func(r rune) rune) string {
	return strings.Map(f, s)
}

// TestFindsThroughUnicode: tag characters, bytes as variation selectors,
// compatibility forms, lookalikes next to ASCII, default-ignorable
// characters between a key's.
func TestFindsThroughUnicode(t *testing.T) {
	s := New([]string{injected})
	tag := func(r rune) rune { return r + 0xE0000 }
	bold := func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return 0x1D41A + r - 'a'
		case 'A' <= r && r <= 'Z':
			return 0x1D400 + r - 'A'
		case '0' <= r && r <= '9':
			return 0x1D7CE + r - '0'
		}
		return r
	}
	var vs strings.Builder
	for _, c := range []byte("k=" + ghToken) {
		if c < 16 {
			vs.WriteRune(rune(0xFE00 + int(c)))
		} else {
			vs.WriteRune(rune(0xE0100 + int(c) - 16))
		}
	}
	findsAll(t, s, []formCase{
		{"tag characters after text", "see" + runesOf(ghToken, tag) + "here", "github-token"},
		{"the secret in tag characters", runesOf(injected, tag), "injected-secret"},
		{"bytes as variation selectors", "ok 🙂" + vs.String(), "github-token"},
		{"mathematical bold", runesOf(ghToken, bold), "github-token"},
		{"circled aws", "\u24b6\u24c0\u24be\u24b6" + awsKey[4:], "aws-access-key-id"},
		{"hangul fillers between", strings.Join(strings.Split(ghToken, ""), "\u3164"), "github-token"},
		{"variation selectors between", strings.Join(strings.Split(awsKey, ""), "\ufe0f"), "aws-access-key-id"},
		{"cyrillic lookalikes", strings.NewReplacer("a", "а", "e", "е", "o", "о", "p", "р").Replace(ghToken), "github-token"},
	}, []string{
		"Ship it ✔️ 👍🏽 👨‍👩‍👧 ❤️ 🏴󠁧󠁢󠁥󠁮󠁧󠁿 done",
		"Let 𝑓(𝑥) = 𝑥² + 1 for 𝑥 ∈ ℝ; ① ② ③ H₂O",
		"Привет, мир! Москва — столица. Ελληνικά. ＡＢＣ１２３、２０２６年",
	})
}
