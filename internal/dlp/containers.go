package dlp

import (
	"bytes"
	"encoding/binary"
)

// Containers that hold zlib streams where their format says, not at their
// start: a PDF's streams (FlateDecode) after the word stream, a PNG's
// compressed chunks (IDAT's image data, joined across its chunks; zTXt,
// iTXt and iCCP text and profiles). zlib's two-byte magic is too short to
// look for anywhere in binary data, so these are read where they are.

var pdfStream, pngSignature = []byte("stream"), []byte("\x89PNG\r\n\x1a\n")

// zlibStreams calls fn with each zlib stream a PDF or a PNG in data holds,
// until fn returns false.
func zlibStreams(data []byte, fn func(stream []byte) bool) {
	if bytes.HasPrefix(data, pngSignature) {
		pngStreams(data[len(pngSignature):], fn)
		return
	}
	for at := 0; at < len(data); {
		i := bytes.Index(data[at:], pdfStream)
		if i < 0 {
			return
		}
		at += i + len(pdfStream)
		if bytes.HasPrefix(data[at:], []byte("\r\n")) {
			at += 2
		} else if at < len(data) && (data[at] == '\n' || data[at] == '\r') {
			at++
		} else {
			continue
		}
		if len(data)-at >= 4 && data[at] == 0x78 && Compressed(data[at:]) && !fn(data[at:]) {
			return
		}
	}
}

// pngStreams walks a PNG's chunks (after its signature).
func pngStreams(data []byte, fn func(stream []byte) bool) {
	var idat []byte
	for len(data) >= 12 {
		n := int(binary.BigEndian.Uint32(data))
		if n < 0 || n > len(data)-12 {
			break
		}
		typ, body := string(data[4:8]), data[8:8+n]
		data = data[12+n:]
		switch typ {
		case "IDAT":
			idat = append(idat, body...)
			continue
		case "zTXt", "iCCP": // keyword, 0, method, stream
			if k := bytes.IndexByte(body, 0); k >= 0 && k+2 <= len(body) && !fn(body[k+2:]) {
				return
			}
		case "iTXt": // keyword, 0, flag, method, language, 0, translated keyword, 0, text
			k := bytes.IndexByte(body, 0)
			if k < 0 || k+3 > len(body) || body[k+1] != 1 {
				break
			}
			rest := body[k+3:]
			for range 2 {
				if j := bytes.IndexByte(rest, 0); j >= 0 {
					rest = rest[j+1:]
				}
			}
			if !fn(rest) {
				return
			}
		}
	}
	if len(idat) > 0 {
		fn(idat)
	}
}
