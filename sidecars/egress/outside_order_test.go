package egress

import (
	"testing"
)

// TestOutsideKeyInFormFields: a key cut into the fields of one form, each
// its own name. The form's fields went to the split watch in a map's
// order, which differs from one request to the next, so the pieces were
// joined out of order: on main about a third got out with 200 (7 of 20,
// then 4 of these 10).
// Now the fields go in the order sent, and each of ten is refused.
func TestOutsideKeyInFormFields(t *testing.T) {
	k := outsideGitHub
	form := "a=" + k[:10] + "&b=" + k[10:20] + "&c=" + k[20:30] + "&d=" + k[30:]
	for range 10 {
		o := newOutside(t)
		refusedAll(t, o, "files.example.test", map[string]string{
			"four fields": post("/upload", "files.example.test", "application/x-www-form-urlencoded", form),
		})
	}
}
