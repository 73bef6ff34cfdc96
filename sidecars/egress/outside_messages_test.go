package egress

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestOutsideKeyInSmallMessages: a key sent a character or two a
// WebSocket message (each short message's start and end were the same
// piece, put in the run twice), base64 a character a message, or a few
// characters a JSON message or a JSON request body ({"seq":3,"d":"Z7RM"}),
// through a real proxy and gateway: the message or request that completes
// it is refused. A chat's JSON messages and an API's small JSON calls,
// their ids varying, pass.
func TestOutsideKeyInSmallMessages(t *testing.T) {
	const F = "files.example.test"
	b64 := base64.StdEncoding.EncodeToString([]byte(outsideGitHub))
	for _, c := range []struct {
		name  string
		msgs  []string
		whole int // the message from which the key is whole (base64's padding may be to come)
	}{
		{"two characters a message", pieces(outsideGitHub, 2, "%[2]s"), 20},
		{"base64, a character a message", pieces(b64, 1, "%[2]s"), 54},
		{"json messages of three", pieces(outsideAWS, 3, `{"seq":%d,"d":"%s"}`), 7},
	} {
		t.Run("websocket "+c.name, func(t *testing.T) {
			o := newOutside(t)
			ws := o.dialWS(t, "wss://"+F+"/socket")
			defer ws.CloseNow()
			for i, m := range c.msgs {
				got, err := wsExchange(ws, m)
				if err != nil {
					if i+1 < c.whole || websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
						t.Fatalf("message %d of %d: %v", i+1, len(c.msgs), err)
					}
					return
				}
				if i+1 >= c.whole {
					t.Errorf("message %d got out, the key whole: %q", i+1, got)
				}
			}
		})
	}
	o := newOutside(t)
	t.Run("json request bodies of three", func(t *testing.T) {
		msgs := pieces(outsideGitHub, 3, `{"seq":%d,"chunk":"%s"}`)
		for i, m := range msgs {
			code, _ := o.send(t, F, post("/api/notes", F, "application/json", m))
			if i < len(msgs)-1 && code != 200 || i == len(msgs)-1 && code != 403 {
				t.Fatalf("request %d of %d: %d", i+1, len(msgs), code)
			}
		}
	})
	t.Run("benign websocket chat", func(t *testing.T) {
		c := o.dialWS(t, "wss://"+F+"/socket")
		defer c.CloseNow()
		for i := range 60 {
			m := fmt.Sprintf(`{"type":"msg","id":"m%dX%x","room":"general","text":"line %d of the chat","ts":%d}`, i, i*7919, i, 1733052345+i)
			if _, err := wsExchange(c, m); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
	})
	t.Run("benign json calls", func(t *testing.T) {
		for i := range 40 {
			body := fmt.Sprintf(`{"page":%d,"cursor":"c%dK%x","lang":"en","q":"release notes %d"}`, i, i, i*7919, i)
			if code, answer := o.send(t, F, post("/api/search", F, "application/json", body)); code != 200 {
				t.Fatalf("call %d: %d %s", i, code, answer)
			}
		}
	})
}

// pieces cuts s into pieces of n, each written with format (its index,
// the piece).
func pieces(s string, n int, format string) []string {
	var out []string
	for i := 0; i < len(s); i += n {
		out = append(out, fmt.Sprintf(format, i/n, s[i:min(i+n, len(s))]))
	}
	return out
}

func (o *outside) dialWS(t *testing.T, target string) *websocket.Conn {
	t.Helper()
	proxyURL, _ := url.Parse("http://" + o.addr)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: o.roots.Clone()}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, target, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

func wsExchange(c *websocket.Conn, msg string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return "", err
	}
	_, got, err := c.Read(ctx)
	return string(got), err
}
