package inbound

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
)

var cdata = []byte("<![CDATA[")

// isXML reports whether a content type is XML (a feed, a document, SVG).
func isXML(ct string) bool {
	return ct == "application/xml" || ct == "text/xml" || strings.HasSuffix(ct, "+xml")
}

// splitXML is XML as its reader reads it: its text with character and
// entity references undone and CDATA sections joined to the text around
// them (a feed's escaped HTML is text then, as its reader shows it), its
// attributes' values, and its comments, which no reader shows, apart. What the decoder cannot
// read is read as sent.
func splitXML(body []byte) (visible, hidden []piece) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	var text, comments bytes.Buffer
	for {
		tok, err := d.RawToken()
		if err != nil {
			if err != io.EOF {
				text.WriteByte('\n')
				text.Write(body[min(int(d.InputOffset()), len(body)):])
			}
			break
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.Comment:
			comments.Write(t)
			comments.WriteByte('\n')
		case xml.StartElement: // its attributes' values too, as they were read as sent
			text.WriteByte(' ')
			for _, a := range t.Attr {
				text.WriteString(a.Value)
				text.WriteByte('\n')
			}
		case xml.EndElement:
			text.WriteByte(' ')
		case xml.ProcInst:
			text.Write(t.Inst)
			text.WriteByte('\n')
		case xml.Directive:
			text.Write(t)
			text.WriteByte('\n')
		}
	}
	visible = []piece{{where: "text", data: softBreaks(text.Bytes())}}
	if comments.Len() > 0 {
		hidden = []piece{{where: "xml comment", data: comments.Bytes()}}
	}
	return visible, hidden
}
