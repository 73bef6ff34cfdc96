package inbound

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"
)

// docsLike is text an agent reads: the corpus bodies and this repository's
// Markdown, about 1 MiB.
func docsLike(b *testing.B) []byte {
	b.Helper()
	var data []byte
	files, _ := filepath.Glob("../../sidecars/egress/testdata/corpus/bodies/*")
	more, _ := filepath.Glob("../../*.md")
	for len(data) < 1<<20 {
		for _, f := range append(files, more...) {
			d, _ := os.ReadFile(f)
			data = append(data, d...)
		}
		if len(files)+len(more) == 0 {
			b.Fatal("no text to scan")
		}
	}
	return data
}

func BenchmarkScanText(b *testing.B) {
	data := docsLike(b)
	b.SetBytes(int64(len(data)))
	for range b.N {
		Scan(data, "text/markdown")
	}
}

func BenchmarkScanHTML(b *testing.B) {
	data := append([]byte("<html><body><p>"), docsLike(b)...)
	b.SetBytes(int64(len(data)))
	for range b.N {
		Scan(data, "text/html")
	}
}

// BenchmarkScanXML: the same text as a feed's escaped descriptions, read
// through the XML decoder.
func BenchmarkScanXML(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("<rss><channel>")
	for _, p := range bytes.SplitAfter(docsLike(b), []byte("\n\n")) {
		buf.WriteString("<item><description>")
		xml.EscapeText(&buf, p)
		buf.WriteString("</description></item>")
	}
	buf.WriteString("</channel></rss>")
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for range b.N {
		Scan(data, "application/rss+xml")
	}
}
