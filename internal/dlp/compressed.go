package dlp

import (
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sync/semaphore"
)

// Compressed data is known by its magic bytes, with or without a
// Content-Encoding saying so: a gzip, zlib, zstd, bzip2 or xz stream, or
// a zip archive (an upload of the workspace, a blob in a JSON field once
// its base64 is undone). What it inflates to is scanned like the rest.
// Raw deflate has no magic: binary data bound for a host the bottle holds
// no credential for is inflated as raw deflate too, from its start
// (random bytes fail within a few hundred). Brotli has none either, and
// is not tried: its decoder takes a window of up to 16 MiB and about a
// third of a millisecond for each try on random bytes.

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
	case 0xfd:
		return len(data) >= 6 && string(data[1:6]) == "7zXZ\x00"
	}
	return false
}

// What inflations hold at once, across every scan of the process, is
// bounded: a few KiB sent can inflate to MaxInflate, where the room a
// request takes in the proxy's budget is counted from what it sent, so
// requests at once could each hold that much. An inflation takes room for
// what it inflates to and the views the scan makes of it (twice its
// size), all it needs at once, never a part while it waits for more (the
// inflations would wait on each other): room for smallInflate first, and
// when it inflates past that, room for MaxInflate, inflating again from
// the start. One that gets no room within inflateWait is a finding, as one
// too large is: nothing leaves unscanned.
const (
	maxInflating = 4 * MaxInflate
	smallInflate = 1 << 20
	inflateWait  = 30 * time.Second
)

var inflating = semaphore.NewWeighted(maxInflating)

// errNoRoom: an inflation got no room in time.
var errNoRoom = errors.New("no room to inflate in time")

// inflateWithin reads what open gives, up to limit bytes, holding room
// for it and the decoder's window meanwhile (given back when fn returns);
// more says it goes on past limit.
func inflateWithin(open func() (io.ReadCloser, error), limit, window int64, fn func(out []byte)) (more bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), inflateWait)
	err = inflating.Acquire(ctx, 2*(limit+1)+window)
	cancel()
	if err != nil {
		return false, errNoRoom
	}
	defer inflating.Release(2*(limit+1) + window)
	r, err := open()
	if err != nil {
		return false, err
	}
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if int64(len(out)) > limit {
		return true, nil
	}
	if len(out) == 0 && err != nil {
		return false, err
	}
	fn(out) // what inflated before an error counts too
	return false, nil
}

// inflate calls fn with what data inflates to (each file of a zip
// archive), named for its format, or as raw deflate when raw is set;
// tooLarge is set when it inflates past MaxInflate, or got no room to
// inflate in time. Data that is not valid in its format is left alone.
func inflate(data []byte, raw bool, fn func(name string, out []byte) bool) (tooLarge bool) {
	window := int64(0)
	read := func(name string, open func() (io.ReadCloser, error)) bool {
		goOn := true
		scan := func(out []byte) { goOn = fn(name, out) }
		more, err := inflateWithin(open, smallInflate, window, scan)
		if more {
			more, err = inflateWithin(open, MaxInflate, window, scan)
		}
		if more || err == errNoRoom {
			tooLarge = true
			return false
		}
		return goOn
	}
	reader := func(newReader func(io.Reader) (io.Reader, error)) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) {
			r, err := newReader(bytes.NewReader(data))
			if err != nil {
				return nil, err
			}
			if rc, ok := r.(io.ReadCloser); ok {
				return rc, nil
			}
			return io.NopCloser(r), nil
		}
	}
	if raw {
		if !mayDeflate(data) {
			return false
		}
		read("deflate", func() (io.ReadCloser, error) {
			fr := flateReaders.Get().(io.ReadCloser)
			fr.(flate.Resetter).Reset(bytes.NewReader(data), nil)
			return pooledFlate{fr}, nil
		})
		return tooLarge
	}
	switch data[0] {
	case 0xfd:
		window = xzWindow
		read("xz", reader(func(r io.Reader) (io.Reader, error) {
			return xz.ReaderConfig{DictCap: xzWindow}.NewReader(r)
		}))
	case 0x1f:
		read("gzip", reader(func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }))
	case 0x78:
		read("zlib", reader(func(r io.Reader) (io.Reader, error) { return zlib.NewReader(r) }))
	case 0x28:
		read("zstd", reader(func(r io.Reader) (io.Reader, error) {
			d, err := zstd.NewReader(r, zstd.WithDecoderMaxMemory(MaxInflate+1), zstd.WithDecoderConcurrency(1))
			if err != nil {
				return nil, err
			}
			return d.IOReadCloser(), nil
		}))
	case 'B':
		read("bzip2", reader(func(r io.Reader) (io.Reader, error) { return bzip2.NewReader(r), nil }))
	case 'P':
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return false
		}
		total := int64(0)
		for _, f := range zr.File {
			if total += int64(f.UncompressedSize64); total > MaxInflate {
				return true
			}
			if !read("zip", f.Open) {
				return tooLarge
			}
		}
	}
	return tooLarge
}

// mayDeflate reports whether data may start a raw deflate stream worth
// inflating: long enough to hold a key, its first block of a type that
// exists, a stored block's length checked against its complement.
func mayDeflate(data []byte) bool {
	if len(data) < minLongRun {
		return false
	}
	switch data[0] >> 1 & 3 {
	case 3:
		return false
	case 0:
		return data[1] == ^data[3] && data[2] == ^data[4]
	}
	return true
}

// flateReaders are raw deflate readers to reuse: each holds a window of
// 32 KiB, and most binary data fails within a few bytes.
var flateReaders = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// pooledFlate gives its reader back to the pool when closed.
type pooledFlate struct{ io.ReadCloser }

func (p pooledFlate) Close() error {
	flateReaders.Put(p.ReadCloser)
	return nil
}

// xzWindow is the dictionary an xz stream is read with (xz's default
// preset's), held as room too.
const xzWindow = 8 << 20

// scanInflated scans what compressed data inflates to (as raw deflate
// when raw is set).
func (s *Scanner) scanInflated(data []byte, raw bool, pl place, enc string, depth int) *Finding {
	var f *Finding
	if inflate(data, raw, func(name string, out []byte) bool {
		if raw && len(out) < minSecret {
			return true
		}
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
// looked for at the start only, and where a container says a zlib stream
// is (containers.go): a PDF's streams, a PNG's chunks.
var embedded = [][]byte{{0x1f, 0x8b, 0x08}, {0x28, 0xb5, 0x2f, 0xfd}, []byte("PK\x03\x04")}

// maxEmbedded bounds the embedded streams tried in one piece of data; when
// more are there, the data is a finding (compressed-past-scan), as data
// that inflates past the scan is: streams put first to use the tries up
// would otherwise hide the one after them (seen: five gzip magics before
// a gzip stream of a key).
const maxEmbedded = 64

// scanCompressed scans what data inflates to when it starts compressed,
// and, when it is binary, each compressed stream found inside it.
func (s *Scanner) scanCompressed(data []byte, pl place, enc string, depth int) *Finding {
	if Compressed(data) {
		if f := s.scanInflated(data, false, pl, enc, depth); f != nil {
			return f
		}
	} else if pl.binary && s.on.glue {
		if f := s.scanInflated(data, true, pl, enc, depth); f != nil {
			return f
		}
	}
	if !pl.binary {
		return nil
	}
	tries := 0
	try := func(stream []byte) (*Finding, bool) {
		if tries == maxEmbedded {
			if s.off[compressedRule] {
				return nil, false
			}
			return &Finding{Rule: compressedRule, Where: pl.where, Encoding: enc}, false
		}
		tries++
		return s.scanInflated(stream, false, pl, enc, depth), true
	}
	for _, m := range embedded {
		if m[0] == 'P' && bytes.HasPrefix(data, m) {
			continue // a zip archive: its members were read from its directory
		}
		for at := 1; at < len(data); at++ {
			i := bytes.Index(data[at:], m)
			if i < 0 {
				break
			}
			at += i
			if f, goOn := try(data[at:]); f != nil || !goOn {
				return f
			}
		}
	}
	var found *Finding
	zlibStreams(data, func(stream []byte) bool {
		f, goOn := try(stream)
		found = f
		return f == nil && goOn
	})
	return found
}
