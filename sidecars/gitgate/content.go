package gitgate

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bottle-sandbox/bottle/internal/dlp"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/zricethezav/gitleaks/v8/detect"
)

// finder looks for secrets in what a push carries: gitleaks' maintained
// rules on text, and the DLP (the bottle's own injected secrets, plain or
// encoded, and the formats the egress proxy knows) on everything.
type finder struct {
	leaks *detect.Detector
	dlp   *dlp.Scanner
}

func newFinder(injected *dlp.Scanner) (*finder, error) {
	d, err := detector()
	if err != nil {
		return nil, err
	}
	if injected == nil {
		injected = dlp.New(nil).Thorough()
	}
	return &finder{leaks: d, dlp: injected}, nil
}

// text is the rule a secret in text matches, or "". path lets gitleaks
// apply its rules by file name, and its allowlists of lock files.
func (f *finder) text(data []byte, path string) string {
	//lint:ignore SA1019 Detect takes no other type before gitleaks v9
	for _, l := range f.leaks.Detect(detect.Fragment{Raw: string(data), FilePath: path}) {
		return l.RuleID
	}
	return f.binary(data)
}

// binary is the rule a secret in binary data matches, or "": the DLP's
// views of the raw bytes (its decodings, escapes, delimited runs), and of
// the bytes with NULs taken out, which is how text stored as UTF-16 or
// padded between fields reads.
func (f *finder) binary(data []byte) string {
	if r := describeFinding(f.dlp.Scan(data, "push")); r != "" {
		return r
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return describeFinding(f.dlp.Scan(bytes.ReplaceAll(data, []byte{0}, nil), "push"))
	}
	return ""
}

func describeFinding(f *dlp.Finding) string {
	switch {
	case f == nil:
		return ""
	case f.Encoding != "":
		return f.Rule + " (" + f.Encoding + ")"
	}
	return f.Rule
}

// isBinary is git's test: a NUL in the first 8000 bytes.
func isBinary(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0
}

// maxArchiveDepth bounds archives inside archives (a zip in a tar.gz is 3).
const maxArchiveDepth = 4

// contentScan is the scan of one file's whole content: a compressed file
// or an archive is opened and what it holds is scanned, member by member,
// all of it together at most budget bytes expanded.
type contentScan struct {
	f      *finder
	budget int64 // bytes left to expand
	max    int64 // max_binary, for the refusal
}

// errExpands stops a file that expands past max_binary.
var errExpands = errors.New("expands past max_binary")

// scan says what is wrong with data at where (a path in the tree, then
// ":member" for each archive it is inside): a secret's rule, or a reason
// it cannot be scanned. where is known to be free of secrets.
func (cs *contentScan) scan(data []byte, where string, depth int) (problem string) {
	kind := sniff(data)
	switch kind {
	case "":
		if isBinary(data) {
			return cs.leak(cs.f.binary(data), where)
		}
		return cs.leak(cs.f.text(data, where), where)
	case "7z", "rar", "lz4", "lzip":
		return fmt.Sprintf("%s is a %s archive, which the gate does not open to scan", where, kind)
	}
	if depth >= maxArchiveDepth {
		return fmt.Sprintf("%s nests archives more than %d deep, which the gate does not open to scan", where, maxArchiveDepth)
	}
	problem, err := cs.members(kind, data, where, depth)
	switch {
	case errors.Is(err, errExpands):
		return fmt.Sprintf("%s expands past max_binary (%d bytes), so it cannot be scanned whole", where, cs.max)
	case err != nil:
		// What cannot be read whole cannot be scanned whole: a tool that
		// forgives more than the gate's reader would find what it missed.
		return fmt.Sprintf("%s looks like a %s file but cannot be opened to scan", where, kind)
	case problem != "":
		return problem
	}
	// Whatever an archive carries beside its members (comments, data
	// after its end) is in its raw bytes.
	return cs.leak(cs.f.binary(data), where)
}

func (cs *contentScan) leak(rule, where string) string {
	if rule == "" {
		return ""
	}
	return fmt.Sprintf("secret found: %s in %s", rule, where)
}

// members scans what a compressed file or an archive holds.
func (cs *contentScan) members(kind string, data []byte, where string, depth int) (string, error) {
	switch kind {
	case "gzip", "bzip2", "xz", "zstd":
		r, closeIt, err := decompressor(kind, data)
		if err != nil {
			return "", err
		}
		defer closeIt()
		inner, err := cs.read(r)
		if err != nil {
			return "", err
		}
		// A compressed file's one member is named for the file.
		return cs.scan(inner, where, depth+1), nil
	case "zip":
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return "", err
		}
		if p := cs.named(zr.Comment, where, "the archive's comment"); p != "" {
			return p, nil
		}
		for _, m := range zr.File {
			if p := cs.named(m.Name+"\n"+m.Comment, where, "a member's name"); p != "" {
				return p, nil
			}
			if m.FileInfo().IsDir() {
				continue
			}
			rc, err := m.Open()
			if err != nil {
				return "", err
			}
			inner, err := cs.read(rc)
			rc.Close()
			if err != nil {
				return "", err
			}
			if p := cs.scan(inner, where+":"+clean(m.Name), depth+1); p != "" {
				return p, nil
			}
		}
		return "", nil
	case "tar":
		tr := tar.NewReader(bytes.NewReader(data))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return "", nil
			}
			if err != nil {
				return "", err
			}
			if p := cs.named(h.Name+"\n"+h.Linkname, where, "a member's name"); p != "" {
				return p, nil
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			inner, err := cs.read(tr)
			if err != nil {
				return "", err
			}
			if p := cs.scan(inner, where+":"+clean(h.Name), depth+1); p != "" {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("no reader for %s", kind)
}

// named scans a name inside an archive; what gets it refused is said
// without it.
func (cs *contentScan) named(name, where, what string) string {
	if rule := cs.f.text([]byte(name), ""); rule != "" {
		return fmt.Sprintf("secret found: %s in %s in %s", rule, what, where)
	}
	return ""
}

// read reads a member, charging it to the budget.
func (cs *contentScan) read(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, cs.budget+1))
	cs.budget -= int64(len(data))
	if cs.budget < 0 {
		return nil, errExpands
	}
	return data, err
}

// sniff names a compressed or archive format by its first bytes, "" for
// any other data.
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(b, []byte("BZh")) && len(b) > 3 && '1' <= b[3] && b[3] <= '9':
		return "bzip2"
	case bytes.HasPrefix(b, []byte("\xfd7zXZ\x00")):
		return "xz"
	case bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	case bytes.HasPrefix(b, []byte("PK\x03\x04")), bytes.HasPrefix(b, []byte("PK\x05\x06")):
		return "zip"
	case len(b) > 262 && string(b[257:262]) == "ustar":
		return "tar"
	case bytes.HasPrefix(b, []byte("7z\xbc\xaf\x27\x1c")):
		return "7z"
	case bytes.HasPrefix(b, []byte("Rar!\x1a\x07")):
		return "rar"
	case bytes.HasPrefix(b, []byte{0x04, 0x22, 0x4d, 0x18}):
		return "lz4"
	case bytes.HasPrefix(b, []byte("LZIP")):
		return "lzip"
	}
	return ""
}

// decompressor reads a compressed file with its memory bounded whatever its
// header asks for (a window, a dictionary).
func decompressor(kind string, data []byte) (io.Reader, func(), error) {
	in := bytes.NewReader(data)
	switch kind {
	case "gzip":
		r, err := gzip.NewReader(in)
		if err != nil {
			return nil, nil, err
		}
		return r, func() { r.Close() }, nil
	case "bzip2":
		return bzip2.NewReader(in), func() {}, nil
	case "xz":
		r, err := xz.ReaderConfig{DictCap: 8 << 20, SingleStream: false}.NewReader(in)
		if err != nil {
			return nil, nil, err
		}
		return r, func() {}, nil
	case "zstd":
		r, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(8<<20), zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			return nil, nil, err
		}
		return r, r.Close, nil
	}
	return nil, nil, fmt.Errorf("no reader for %s", kind)
}

// clean is a name from a push as it may be shown: control characters
// (a terminal's escapes) replaced.
func clean(name string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, name)
}
