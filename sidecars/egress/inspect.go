package egress

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/bottle-sandbox/bottle/internal/dlp"
	"github.com/klauspost/compress/zstd"
)

// What the proxy looks at in a request before it may leave: the URL, every
// header, the body as the upstream will read it (decoded from its
// Content-Encoding, its form fields and multipart parts decoded too), and
// what the request makes together with the ones before it to the same host.

// maxParts bounds the parts of a multipart body; more are refused.
const maxParts = 1000

// part is a piece of a request the DLP scans, and where it was.
type part struct {
	where string
	data  []byte
}

// inspect decides whether r, matched to route, may leave: "" when it may,
// else why not (what was found and where, never the secret itself). It
// also returns the body as the upstream reads it (decoded), once read,
// also when what it carries refuses the request. A body is read
// whole once the budget has room for it; a request that waited too long
// for room gets errBusy, one whose body stopped coming errStalled.
func (p *Proxy) inspect(r *http.Request, route *Route, host string, conn net.Conn) (string, []byte, error) {
	why, body, err := p.inspectHeld(r, route, host, conn)
	if why != "" || err != nil {
		closeBody(r)
	}
	return why, body, err
}

func (p *Proxy) inspectHeld(r *http.Request, route *Route, host string, conn net.Conn) (string, []byte, error) {
	s := p.scanner.Without(route.DLPOff...)
	if route.Signin != "" || route.Secret != "" && route.SendsCredentialTo(host) {
		// The bottle trusts this host with a credential (the model's API):
		// the example keys in what the agent sends it are documentation.
		s = s.Entrusted()
	}
	if len(r.Trailer) > 0 {
		return "request trailers are refused: they would arrive after the body was scanned", nil, nil
	}
	if f := s.ScanHost(route.Host, host); f != nil {
		return "the host name carries data: " + describe(f), nil, nil
	}
	if f := s.ScanURL(r.URL.String()); f != nil {
		return found(f), nil, nil
	}
	// The method and the header names are the agent's to choose too (any
	// token): scanned as the URL is, high-entropy tokens refused.
	if f := s.ScanURL(r.Method); f != nil {
		f.Where = "method"
		return found(f), nil, nil
	}
	for name, vals := range r.Header {
		if f := s.ScanURL(name); f != nil {
			f.Where = "header name"
			return found(f), nil, nil
		}
		for _, v := range vals {
			if f := s.Scan([]byte(v), "header "+strings.ToLower(name)); f != nil {
				return found(f), nil, nil
			}
		}
	}
	if f := sideBySide(s, r); f != nil {
		return found(f), nil, nil
	}
	body, why, err := p.readBody(r, conn)
	if why != "" || err != nil {
		return why, nil, err
	}
	if len(body) > 0 && len(headerList(r.Header.Values("Content-Encoding"))) > 0 {
		// Decoded, it may be up to maxScan, whatever its size as sent.
		release, err := p.budget.take(r.Context(), holdCost(maxScan))
		if err != nil {
			return "", nil, err
		}
		defer release()
	}
	parts, why := bodyParts(r.Header, body)
	if why != "" {
		return why, nil, nil
	}
	if slices.ContainsFunc(parts, func(pt part) bool { return dlp.Compressed(pt.data) }) {
		// Compressed with no Content-Encoding saying so: the scan
		// inflates it, up to dlp.MaxInflate.
		release, err := p.budget.take(r.Context(), holdCost(dlp.MaxInflate))
		if err != nil {
			return "", nil, err
		}
		defer release()
	}
	for _, pt := range parts {
		if f := s.Scan(pt.data, pt.where); f != nil {
			return found(f), decoded(parts), nil
		}
	}
	if len(r.Trailer) > 0 { // sent after a chunked body without being declared
		return "request trailers are refused: they would arrive after the body was scanned", nil, nil
	}
	watched, frags := host, fragments(r, parts)
	if sub, ok := freeLabels(route.Host, host); ok {
		// Under a wildcard the labels are the agent's to choose: one watch
		// for all its hosts, the labels a place of their own.
		watched, frags = route.Host, append(frags, fragment{"host", []byte(sub)})
	}
	if f := p.split.checkPlaced(s, watched, frags); f != nil {
		return found(f), decoded(parts), nil
	}
	return "", decoded(parts), nil
}

// decoded is the body as the upstream reads it: the first of its parts.
func decoded(parts []part) []byte {
	if len(parts) == 0 {
		return nil
	}
	return parts[0].data
}

func found(f *dlp.Finding) string {
	return fmt.Sprintf("the request carries a secret (%s in %s)", describe(f), f.Where)
}

// bodyParts is the body as the upstream reads it: decoded from each
// Content-Encoding (a body that decodes past maxScan is refused, as is an
// encoding the proxy cannot read), then, for forms, each field, and for
// multipart bodies each part's headers and its content decoded from its
// Content-Transfer-Encoding.
func bodyParts(h http.Header, body []byte) ([]part, string) {
	if len(body) == 0 {
		return nil, ""
	}
	codings := headerList(h.Values("Content-Encoding"))
	for i := len(codings) - 1; i >= 0; i-- {
		var err error
		if body, err = decode(codings[i], body); err != nil {
			return nil, err.Error()
		}
	}
	parts := []part{{"body", body}}
	mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	switch {
	case mt == "application/x-www-form-urlencoded":
		if _, err := url.ParseQuery(string(body)); err != nil {
			return nil, "the form body is malformed"
		}
		// In the order sent, as the split watch joins them (a map's
		// order would differ from one request to the next).
		for _, kv := range strings.Split(string(body), "&") {
			k, v, _ := strings.Cut(kv, "=")
			k, _ = url.QueryUnescape(k)
			v, _ = url.QueryUnescape(v)
			if k == "" && v == "" {
				continue
			}
			parts = append(parts, part{"form field name", []byte(k)}, part{"form field " + k, []byte(v)})
		}
	case strings.HasPrefix(mt, "multipart/"):
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for n := 0; ; n++ {
			pt, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil || n == maxParts {
				return nil, "the multipart body is malformed or has too many parts"
			}
			for k, vs := range pt.Header {
				for _, v := range vs {
					parts = append(parts, part{"multipart header " + strings.ToLower(k), []byte(v)})
				}
			}
			data, err := io.ReadAll(io.LimitReader(partReader(pt), maxScan+1))
			if err != nil || len(data) > maxScan {
				return nil, "a multipart part could not be decoded to be scanned"
			}
			parts = append(parts, part{"multipart part " + pt.FormName(), data})
		}
	}
	return parts, ""
}

func partReader(pt *multipart.Part) io.Reader {
	switch strings.ToLower(strings.TrimSpace(pt.Header.Get("Content-Transfer-Encoding"))) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &stripSpace{r: pt})
	case "quoted-printable":
		return quotedprintable.NewReader(pt)
	}
	return pt
}

// stripSpace drops the line breaks of wrapped base64.
type stripSpace struct{ r io.Reader }

func (s *stripSpace) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// decode undoes one content coding, refusing a result past maxScan.
func decode(coding string, body []byte) ([]byte, error) {
	var r io.Reader
	var err error
	switch coding {
	case "identity", "":
		return body, nil
	case "gzip", "x-gzip":
		r, err = gzip.NewReader(bytes.NewReader(body))
	case "deflate": // zlib, as the standard says; some clients send raw deflate
		if r, err = zlib.NewReader(bytes.NewReader(body)); err != nil {
			r, err = flate.NewReader(bytes.NewReader(body)), nil
		}
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "zstd":
		var d *zstd.Decoder
		if d, err = zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderMaxMemory(maxScan+1), zstd.WithDecoderConcurrency(1)); err == nil {
			defer d.Close()
			r = d
		}
	default:
		return nil, fmt.Errorf("the request body's Content-Encoding %q cannot be decoded to be scanned", coding)
	}
	if err != nil {
		return nil, fmt.Errorf("the request body is not valid %s", coding)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxScan+1))
	if len(out) > maxScan {
		return nil, fmt.Errorf("the request body decodes (%s) to more than %d MiB, past what is scanned", coding, maxScan>>20)
	}
	if err != nil {
		return nil, fmt.Errorf("the request body is not valid %s", coding)
	}
	return out, nil
}

// decodeResponse has a response's body decoded from its Content-Encoding
// as it streams, before anything looks at it: what the proxy scans,
// scrubs and pins is then what the agent's client reads (a client decodes
// br or zstd it never asked for; the transport decodes only the gzip it
// asked for itself). A coding the proxy cannot read is left as it came.
func decodeResponse(resp *http.Response) {
	codings := headerList(resp.Header.Values("Content-Encoding"))
	if len(codings) == 0 || resp.Body == nil || resp.Body == http.NoBody {
		return
	}
	for _, c := range codings {
		if !slices.Contains([]string{"identity", "gzip", "x-gzip", "deflate", "br", "zstd"}, c) {
			return
		}
	}
	var r io.Reader = resp.Body
	for i := len(codings) - 1; i >= 0; i-- {
		r = &lazyDecoder{coding: codings[i], src: r}
	}
	setStream(resp, struct {
		io.Reader
		io.Closer
	}{r, resp.Body})
	resp.Header.Del("Content-Encoding")
}

// lazyDecoder undoes one content coding as it is read; the decoder is made
// at the first read (a gzip reader reads its header when made).
type lazyDecoder struct {
	coding string
	src    io.Reader
	r      io.Reader
	err    error
}

func (d *lazyDecoder) Read(p []byte) (int, error) {
	if d.r == nil && d.err == nil {
		switch d.coding {
		case "identity":
			d.r = d.src
		case "gzip", "x-gzip":
			d.r, d.err = gzip.NewReader(d.src)
		case "deflate":
			br := bufio.NewReader(d.src)
			if head, _ := br.Peek(2); len(head) == 2 && head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
				d.r, d.err = zlib.NewReader(br)
			} else {
				d.r = flate.NewReader(br) // raw deflate, as some servers send
			}
		case "br":
			d.r = brotli.NewReader(d.src)
		case "zstd":
			var z *zstd.Decoder
			if z, d.err = zstd.NewReader(d.src, zstd.WithDecoderMaxMemory(maxScan+1), zstd.WithDecoderConcurrency(1)); d.err == nil {
				d.r = z.IOReadCloser()
			}
		}
		if d.err != nil {
			d.err = fmt.Errorf("the response is not valid %s", d.coding)
		}
	}
	if d.err != nil {
		return 0, d.err
	}
	return d.r.Read(p)
}

// headerList splits comma-separated header values, lower-cased.
func headerList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, f := range strings.Split(v, ",") {
			if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// fragmentSize is how much of the start and the end of a body part is kept
// for the split watch: more than any key format.
const fragmentSize = 256

// fragments are the pieces of a request an agent could carry part of a
// secret in, each with its place: each path segment, query name and
// value, header value and cookie, the start and end of each body part, and
// the string values of a small JSON body by their member's name.
func fragments(r *http.Request, parts []part) []fragment {
	var out []fragment
	add := func(place, s string) {
		if s != "" {
			out = append(out, fragment{place, []byte(s)})
		}
	}
	for i, seg := range strings.Split(r.URL.Path, "/") {
		add("path segment "+strconv.Itoa(i), seg)
	}
	for _, kv := range strings.Split(r.URL.RawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		add("query name", k)
		add("query "+k, v)
	}
	add("method", r.Method)
	for _, name := range sortedKeys(r.Header) {
		if name == "Content-Length" { // the body's length, which varies with it
			continue
		}
		for _, v := range r.Header[name] {
			if name == "Cookie" {
				// Name and value apart, as a query's: a key split across
				// two cookies is their values joined.
				for _, c := range strings.Split(v, ";") {
					n, cv, _ := strings.Cut(strings.TrimSpace(c), "=")
					add("cookie name", n)
					add("cookie "+n, cv)
				}
				continue
			}
			add("header "+strings.ToLower(name), v)
		}
	}
	for _, pt := range parts {
		d := pt.data
		out = jsonValues(out, pt.where, d)
		if len(d) <= 2*fragmentSize {
			out = append(out, fragment{pt.where, d})
			continue
		}
		out = append(out, fragment{pt.where, d[:fragmentSize]}, fragment{pt.where, d[len(d)-fragmentSize:]})
	}
	return out
}

// freeLabels is the part of host a wildcard pattern (*.suffix) leaves to
// the agent.
func freeLabels(pattern, host string) (string, bool) {
	suffix, ok := strings.CutPrefix(pattern, "*.")
	if !ok || len(host) <= len(suffix)+1 || !strings.EqualFold(host[len(host)-len(suffix)-1:], "."+suffix) {
		return "", false
	}
	return host[:len(host)-len(suffix)-1], true
}

func sortedKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
