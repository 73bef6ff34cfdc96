package inbound

import (
	"bytes"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

func isHTML(contentType string, body []byte) bool {
	if strings.Contains(contentType, "html") {
		return true
	}
	head := bytes.ToLower(body[:min(len(body), 512)])
	return contentType == "" && (bytes.Contains(head, []byte("<html")) || bytes.Contains(head, []byte("<!doctype html")))
}

// splitHTML separates what a reader of the page sees (its text; a line
// break in it is a space, as HTML shows it) from what they do not:
// comments, elements hidden by attribute or style, a template's content.
// Two more are read for the strong rules only: the attributes that carry
// prose a person does not see (alt, title, aria-label, a meta's content),
// hidden; and the comments of scripts and styles (which an agent reading
// the page's source reads; their code is not prose), as seen. A noscript's
// text is seen by whoever reads the page without running it.
func splitHTML(body []byte) (visible, hidden []piece) {
	var seen, unseen, comments, attrs, code bytes.Buffer
	z := html.NewTokenizer(bytes.NewReader(body))
	var stack []bool // per open element: hidden
	hiddenDepth, codeDepth := 0, 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			visible = []piece{{where: "text", data: seen.Bytes()}}
			if c := codeComments(code.Bytes()); len(c) > 0 {
				visible = append(visible, piece{"comments in code", c, true})
			}
			if unseen.Len() > 0 {
				hidden = append(hidden, piece{where: "hidden html", data: unseen.Bytes()})
			}
			if comments.Len() > 0 {
				hidden = append(hidden, piece{where: "html comment", data: comments.Bytes()})
			}
			if attrs.Len() > 0 {
				hidden = append(hidden, piece{"html attributes", attrs.Bytes(), true})
			}
			return visible, hidden
		case html.CommentToken:
			comments.Write(z.Text())
			comments.WriteByte('\n')
		case html.TextToken:
			raw := z.Text() // (once: a second call gives nothing)
			text := bytes.ReplaceAll(raw, []byte{'\n'}, []byte{' '})
			switch {
			case hiddenDepth > 0:
				unseen.Write(text)
				unseen.WriteByte(' ')
			case codeDepth > 0:
				code.Write(raw)
				code.WriteByte('\n')
			default:
				seen.Write(text)
				seen.WriteByte(' ')
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			n := string(name)
			h := n == "template" // not shown: markup for a script to use
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				if hiddenAttr(string(k), strings.ToLower(string(v))) {
					h = true
				}
				if proseAttr(n, string(k)) {
					attrs.Write(v)
					attrs.WriteByte('\n')
				}
			}
			if tt == html.SelfClosingTagToken || voidElement(n) {
				continue
			}
			if n == "script" || n == "style" {
				codeDepth++
			}
			stack = append(stack, h)
			if h {
				hiddenDepth++
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if n := string(name); n == "script" || n == "style" {
				if codeDepth > 0 {
					codeDepth--
				}
			}
			if len(stack) > 0 {
				if stack[len(stack)-1] {
					hiddenDepth--
				}
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// proseAttr reports whether an element's attribute holds prose that a
// person reading the page does not see.
func proseAttr(element, k string) bool {
	switch k {
	case "alt", "title", "aria-label", "aria-description", "placeholder":
		return true
	case "content":
		return element == "meta"
	}
	return false
}

func hiddenAttr(k, v string) bool {
	switch k {
	case "hidden":
		return true
	case "aria-hidden":
		return v == "true"
	case "style":
		v = strings.ReplaceAll(v, " ", "")
		for _, h := range []string{"display:none", "visibility:hidden", "font-size:0", "opacity:0", "height:0", "width:0", "color:transparent", "left:-9999", "text-indent:-9999"} {
			if strings.Contains(v, h) {
				return true
			}
		}
	}
	return false
}

func voidElement(n string) bool {
	switch n {
	case "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr":
		return true
	}
	return false
}

// softBreaks is Markdown as it is shown: a line break inside a paragraph
// is a space (a blank line ends the paragraph).
func softBreaks(b []byte) []byte {
	out := bytes.Clone(b)
	for i, c := range out {
		if c == '\n' && (i == 0 || out[i-1] != '\n') && (i+1 == len(out) || out[i+1] != '\n') {
			out[i] = ' '
		}
	}
	return out
}

// percentText is body percent-decoded, when it holds prose so encoded
// (three encoded spaces or more): a model reads it as easily as the text.
func percentText(body []byte) []byte {
	if bytes.Count(body, []byte("%20")) < 3 {
		return nil
	}
	d, err := url.PathUnescape(string(body))
	if err != nil {
		d, err = url.QueryUnescape(strings.ReplaceAll(string(body), "%%", "%25%"))
		if err != nil {
			return nil
		}
	}
	return []byte(d)
}

// codeComments are the comments of scripts and styles (/* */ and //),
// each on a line of its own.
func codeComments(code []byte) []byte {
	var out []byte
	for i := 0; i+1 < len(code); i++ {
		switch {
		case code[i] == '/' && code[i+1] == '*':
			end := bytes.Index(code[i+2:], []byte("*/"))
			if end < 0 {
				end = len(code) - i - 2
			}
			out = append(append(out, code[i+2:i+2+end]...), '\n')
			i += 2 + end
		case code[i] == '/' && code[i+1] == '/' && (i == 0 || code[i-1] != ':'): // not a URL's
			end := bytes.IndexByte(code[i:], '\n')
			if end < 0 {
				end = len(code) - i
			}
			out = append(append(out, code[i+2:i+end]...), '\n')
			i += end
		}
	}
	return out
}
