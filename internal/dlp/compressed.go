package dlp

import (
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"compress/zlib"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Compressed data is known by its magic bytes, with or without a
// Content-Encoding saying so: a gzip, zlib, zstd or bzip2 stream, or a
// zip archive (an upload of the workspace, a blob in a JSON field once its
// base64 is undone). What it inflates to is scanned like the rest.

// MaxInflate bounds what compressed data inflates to for the scan; data
// that inflates past it is a finding, so nothing leaves unscanned.
const MaxInflate = 16 << 20

// compressedRule names the finding for compressed data too large to scan.
const compressedRule = "compressed-past-scan"

// Compressed reports whether data starts with the magic of a format the
// scan inflates: cheap, for every scan.
func Compressed(data []byte) bool {
	if len(data) < 4 {
		return false
	}
	switch data[0] {
	case 0x1f:
		return data[1] == 0x8b
	case 0x78: // zlib: deflate, its header's checksum
		return (uint16(data[0])<<8|uint16(data[1]))%31 == 0
	case 0x28:
		return data[1] == 0xb5 && data[2] == 0x2f && data[3] == 0xfd
	case 'B':
		return data[1] == 'Z' && data[2] == 'h' && '1' <= data[3] && data[3] <= '9'
	case 'P':
		return data[1] == 'K' && data[2] == 3 && data[3] == 4
	}
	return false
}

// inflate calls fn with what data inflates to (each file of a zip
// archive), named for its format; too is set when it inflates past
// MaxInflate. Data that is not valid in its format is left alone.
func inflate(data []byte, fn func(name string, out []byte) bool) (tooLarge bool) {
	read := func(name string, r io.Reader) bool {
		out, err := io.ReadAll(io.LimitReader(r, MaxInflate+1))
		if len(out) > MaxInflate {
			tooLarge = true
			return false
		}
		if len(out) == 0 && err != nil {
			return true
		}
		return fn(name, out) // what inflated before an error counts too
	}
	br := bytes.NewReader(data)
	switch data[0] {
	case 0x1f:
		if r, err := gzip.NewReader(br); err == nil {
			read("gzip", r)
		}
	case 0x78:
		if r, err := zlib.NewReader(br); err == nil {
			read("zlib", r)
		}
	case 0x28:
		if d, err := zstd.NewReader(br, zstd.WithDecoderMaxMemory(MaxInflate+1), zstd.WithDecoderConcurrency(1)); err == nil {
			read("zstd", d)
			d.Close()
		}
	case 'B':
		read("bzip2", bzip2.NewReader(br))
	case 'P':
		zr, err := zip.NewReader(br, int64(len(data)))
		if err != nil {
			return false
		}
		total := int64(0)
		for _, f := range zr.File {
			if total += int64(f.UncompressedSize64); total > MaxInflate {
				return true
			}
			rc, err := f.Open()
			if err != nil {
				continue
			}
			ok := read("zip", rc)
			rc.Close()
			if !ok {
				return tooLarge
			}
		}
	}
	return tooLarge
}

// scanInflated scans what compressed data inflates to.
func (s *Scanner) scanInflated(data []byte, pl place, enc string, depth int) *Finding {
	var f *Finding
	if inflate(data, func(name string, out []byte) bool {
		f = s.scan(out, pl, join(enc, name), depth+1)
		return f == nil
	}) && f == nil && !s.off[compressedRule] {
		f = &Finding{Rule: compressedRule, Where: pl.where, Encoding: enc}
	}
	return f
}

// embedded are the magics looked for inside binary data (a gRPC frame's
// compressed message, an archive after a header of its own): long enough
// not to occur by chance often. zlib's two bytes and bzip2's text are
// looked for at the start only.
var embedded = [][]byte{{0x1f, 0x8b, 0x08}, {0x28, 0xb5, 0x2f, 0xfd}, []byte("PK\x03\x04")}

// maxEmbedded bounds the embedded streams tried in one piece of data.
const maxEmbedded = 4

// scanCompressed scans what data inflates to when it starts compressed,
// and, when it is binary, each compressed stream found inside it.
func (s *Scanner) scanCompressed(data []byte, pl place, enc string, depth int) *Finding {
	if Compressed(data) {
		if f := s.scanInflated(data, pl, enc, depth); f != nil {
			return f
		}
	}
	if !pl.binary {
		return nil
	}
	tries := 0
	for _, m := range embedded {
		for at := 1; at < len(data) && tries < maxEmbedded; {
			i := bytes.Index(data[at:], m)
			if i < 0 {
				break
			}
			at += i
			tries++
			if f := s.scanInflated(data[at:], pl, enc, depth); f != nil {
				return f
			}
			at++
		}
	}
	return nil
}
