package egress

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzAuditLine: an audit line is what encoding/json makes of the entry.
func FuzzAuditLine(f *testing.F) {
	f.Add("GET", "api.example.com", "/v1/x?a=<b>&c", "", "allow", "route api.example.com", 200, int64(0), int64(12), int64(1765000000123456789))
	f.Add("CONNECT", "h\u2028\u2029\xff\xfe", "\"\\\b\f\n\r\t\x00\x1f\x7f", "*.example.com", "deny", "über \U0001F600 \xed\xa0\x80", 0, int64(-1), int64(-5), int64(0))
	f.Fuzz(func(t *testing.T, method, host, path, route, decision, reason string, status int, sent, received, nanos int64) {
		e := entry{Time: time.Unix(0, nanos).UTC(), Method: method, Host: host, Path: path, Route: route, Decision: decision,
			Reason: reason, Status: status, Bytes: sent, Received: received}
		want, err := json.Marshal(e) // any time of int64 nanoseconds is one it writes
		if err != nil {
			t.Fatal(err)
		}
		if got := e.appendJSON(nil); string(got) != string(want) {
			t.Errorf("audit line\n%s\nencoding/json writes\n%s", got, want)
		}
	})
}
