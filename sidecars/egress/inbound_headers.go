package egress

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/inbound"
)

// trailerCheck scans a response's trailers once its body has ended (they
// come after it), before anyone passes them on: text that no page shows a
// person, so a finding there counts as hidden. What is withheld or marked
// is the trailers' values.
type trailerCheck struct {
	io.ReadCloser
	p    *Proxy
	x    *exchange
	mode string
	resp *http.Response
	done bool
}

func (t *trailerCheck) Read(b []byte) (int, error) {
	n, err := t.ReadCloser.Read(b)
	if err != nil && !t.done {
		t.done = true
		t.p.checkTrailer(t.resp.Trailer, t.x, t.mode)
	}
	return n, err
}

func (p *Proxy) checkTrailer(tr http.Header, x *exchange, mode string) {
	p.checkHeaderValues(tr, x, mode, "a trailer", "trailer")
}

// checkHeaders scans a response's headers before they are passed on: the
// agent's client shows them (curl -i, -v) and no page shows a person, so
// a finding there counts as hidden, as a trailer's does. What is withheld
// or marked is the values of the headers the finding is in, and the body
// still comes (it is scanned on its own).
func (p *Proxy) checkHeaders(resp *http.Response, x *exchange) {
	mode := x.route.Inbound
	if mode == "" {
		mode = config.InboundAuto
	}
	if mode != config.InboundOff {
		p.checkHeaderValues(resp.Header, x, mode, "a response header", "header")
	}
}

// framing are the headers a response cannot do without: never withheld
// for a finding in the others together.
var framing = map[string]bool{"Content-Length": true, "Content-Type": true, "Content-Encoding": true,
	"Transfer-Encoding": true, "Trailer": true, "Date": true, "Connection": true, "X-Bottle-Inbound": true}

// checkHeaderValues scans the values of h, withholding or marking those
// of the headers a finding is in: each header's that fires on its own;
// when none does (an instruction spread over several), those of all but
// the framing ones.
func (p *Proxy) checkHeaderValues(h http.Header, x *exchange, mode, where, kind string) {
	f := inbound.Scan(headerText(h, sortedKeys(h)...), "text/plain")
	if f == nil {
		return
	}
	f.Hidden, f.Where = true, where
	action := act(mode, f)
	p.auditInbound(x, finding(f), action)
	var note string
	switch action {
	case "blocked":
		note = fmt.Sprintf("[bottle withheld this %s from %s: it contains %s]", kind, x.Host, finding(f))
	case "marked":
		note = warning(x.Host, f) + " "
	default:
		return
	}
	var names []string
	for k := range h {
		if inbound.Scan(headerText(h, k), "text/plain") != nil {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		for k := range h {
			if !framing[k] {
				names = append(names, k)
			}
		}
	}
	for _, k := range names {
		vs := h[k]
		for i, v := range vs {
			if action == "blocked" {
				vs[i] = note
			} else {
				vs[i] = note + v
			}
		}
	}
	if kind == "header" {
		h.Set("X-Bottle-Inbound", f.Rule+"; "+action)
	}
}

// headerText is the named headers of h as lines the inbound scan reads:
// each value, and a value with escapes (a URL's, a cookie's) also
// unescaped, '+' a space, as whoever reads it decodes it.
func headerText(h http.Header, names ...string) []byte {
	var text []byte
	for _, k := range names {
		for _, v := range h[k] {
			text = append(append(append(append(text, k...), ": "...), v...), '\n')
			if strings.ContainsAny(v, "%+") {
				if u, err := url.QueryUnescape(v); err == nil {
					text = append(append(text, u...), '\n')
				}
			}
		}
	}
	return text
}
