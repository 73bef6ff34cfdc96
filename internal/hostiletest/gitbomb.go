package hostiletest

// What attack tests plant in a git folder: git objects no honest git
// writes. Bytes only; no file is touched here.

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
)

// SelfDeltaTip is the object the self-referencing pack holds, and the one a planted
// branch names.
const SelfDeltaTip = "1111111111111111111111111111111111111111"

// SelfDeltaPack is a pack of one object, SelfDeltaTip, stored as a delta whose base is
// SelfDeltaTip itself, with its index: reading SelfDeltaTip makes go-git resolve the base,
// which is the same delta, without end (its recursion has no depth bound),
// until the Go runtime kills the process ("fatal error: stack overflow",
// which no recover catches). name is the pair's name in objects/pack
// without its extension.
func SelfDeltaPack() (name string, pack, idx []byte) {
	h, _ := hex.DecodeString(SelfDeltaTip)
	delta := []byte{0x00, 0x01, 0x01, 'x'} // base size 0, result size 1, insert "x"
	var p bytes.Buffer
	p.WriteString("PACK")
	binary.Write(&p, binary.BigEndian, uint32(2))
	binary.Write(&p, binary.BigEndian, uint32(1))
	off := p.Len()
	p.WriteByte(byte(7<<4 | len(delta))) // OBJ_REF_DELTA, its size
	p.Write(h)                           // its base: itself
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(delta)
	zw.Close()
	p.Write(z.Bytes())
	crc := crc32.ChecksumIEEE(p.Bytes()[off:])
	sum := sha1.Sum(p.Bytes())
	p.Write(sum[:])

	var x bytes.Buffer
	x.Write([]byte{0xff, 't', 'O', 'c', 0, 0, 0, 2})
	for i := range 256 {
		n := uint32(0)
		if i >= int(h[0]) {
			n = 1
		}
		binary.Write(&x, binary.BigEndian, n)
	}
	x.Write(h)
	binary.Write(&x, binary.BigEndian, crc)
	binary.Write(&x, binary.BigEndian, uint32(off))
	x.Write(sum[:])
	isum := sha1.Sum(x.Bytes())
	x.Write(isum[:])
	return "pack-" + hex.EncodeToString(sum[:]), p.Bytes(), x.Bytes()
}
