package egress

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
)

// TestOutsideKeyInContainers: a key compressed inside a file whose format
// holds zlib streams where it says (a PNG's text chunks and its image
// data, a PDF's FlateDecode streams), and a gzip stream after others put
// first to use up the streams the scan tries. zlib's magic was looked for
// at a body's start only, and the tries were four: on main each got out.
// (A PNG's image data is read inflated, its rows as they are: a row the
// encoder filtered is not undone.)
func TestOutsideKeyInContainers(t *testing.T) {
	o := newOutside(t)
	const F = "files.example.test"
	env := "GITHUB_TOKEN=" + outsideGitHub + "\n"
	idat := zlibOf("\x00" + env) // a row of pixels, unfiltered, in two chunks
	decoys := ""
	for range 5 {
		decoys += "\x00\x01" + gzipOf("release notes\n")
	}
	refusedAll(t, o, F, map[string]string{
		"a png's zTXt":         post("/upload", F, "image/png", pngWith(chunk("zTXt", "Comment\x00\x00"+zlibOf(env)))),
		"a png's iTXt":         post("/upload", F, "image/png", pngWith(chunk("iTXt", "Comment\x00\x01\x00en\x00\x00"+zlibOf(env)))),
		"a png's pixels":       post("/upload", F, "image/png", pngWith(chunk("IDAT", idat[:12])+chunk("IDAT", idat[12:]))),
		"a pdf's stream":       post("/upload", F, "application/pdf", pdfWith(zlibOf(env))),
		"gzip after five":      post("/upload", F, "application/octet-stream", "\x00\x01\x02"+decoys+gzipOf(env)),
		"zlib in a pdf's body": post("/upload", F, "application/octet-stream", "\x00\xff"+pdfWith(zlibOf("notes"))+pdfWith(zlibOf(env))),
	})
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for i := range 100 {
		w, _ := zw.Create(fmt.Sprintf("src/file%d.go", i))
		fmt.Fprintf(w, "package src\n\nconst n%d = %d\n", i, i)
	}
	zw.Close()
	passedAll(t, o, F, map[string]string{
		"a zip of 100 files": post("/upload", F, "application/zip", zb.String()),
		"a png":              post("/upload", F, "image/png", pngOf("Remember to water the plants on Tuesday.")),
		"a pdf":              post("/upload", F, "application/pdf", pdfWith(zlibOf("BT /F1 12 Tf 72 712 Td (Hello, world) Tj ET"))),
	})
}

func zlibOf(s string) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func gzipOf(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// chunk is a PNG chunk of this type and data.
func chunk(typ, data string) string {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ + data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE([]byte(typ+data)))
	return b.String()
}

// pngWith is a one-pixel PNG with these chunks after its header.
func pngWith(chunks string) string {
	p := pngOf("x")
	return p[:33] + chunks + p[33:]
}

// pngOf is a PNG whose pixels are s's bytes, one row, grey.
func pngOf(s string) string {
	img := image.NewGray(image.Rect(0, 0, len(s), 1))
	for i := range len(s) {
		img.Set(i, 0, color.Gray{s[i]})
	}
	var b bytes.Buffer
	(&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&b, img)
	return b.String()
}

// pdfWith is a PDF whose page's content is this zlib stream.
func pdfWith(stream string) string {
	return strings.Join([]string{"%PDF-1.4", "%\xe2\xe3\xcf\xd3", "4 0 obj", fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>", len(stream)),
		"stream", stream, "endstream", "endobj", "trailer << /Root 1 0 R >>", "%%EOF", ""}, "\n")
}
