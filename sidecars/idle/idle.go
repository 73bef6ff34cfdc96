// Package idle lets a long-running sidecar give back the pages of its own
// executable that start-up touched and serving does not need. The sidecars
// run the whole bottle binary, whose package initialisation reads far more
// of it than a proxy ever executes again; those read-only pages are clean,
// so dropping them is safe: a page needed later is read back from the file.
package idle

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Trim drops the executable's read-only mappings from memory. It is best
// effort: any failure leaves memory as it was.
func Trim() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(start, 16, 64)
		hi, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		madvise(uintptr(lo), uintptr(hi-lo))
	}
}

func madvise(addr, length uintptr) {
	syscall.Syscall(syscall.SYS_MADVISE, addr, length, syscall.MADV_DONTNEED)
}
