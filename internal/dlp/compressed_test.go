package dlp

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestInflationsAtOnceAreBounded: a few KiB that inflate to nearly
// MaxInflate, sent many times at once (as base64 in JSON, where the proxy
// takes room in its budget for what was sent), hold no more than the
// bound on inflations at once, and each is still scanned whole: the one
// carrying a secret past the filler is found.
func TestInflationsAtOnceAreBounded(t *testing.T) {
	var zipped bytes.Buffer
	w, _ := gzip.NewWriterLevel(&zipped, gzip.BestCompression)
	w.Write(bytes.Repeat([]byte("a"), MaxInflate-1<<20))
	w.Write([]byte(" " + injected))
	w.Close()
	body := []byte(`{"blob":"` + base64.StdEncoding.EncodeToString(zipped.Bytes()) + `"}`)
	t.Logf("%d bytes sent, inflating to %d MiB", len(body), MaxInflate>>20-1)

	// The heap in use counts garbage not yet collected, which a loaded
	// machine's collector leaves longer: collected sooner here, what is
	// measured is what the scans hold (24 unbounded inflations are 384 MiB).
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	s := New([]string{injected})
	const atOnce = 24
	var wg sync.WaitGroup
	found := make([]*Finding, atOnce)
	for i := range atOnce {
		wg.Add(1)
		go func() {
			defer wg.Done()
			found[i] = s.Scan(body, "body")
		}()
	}
	wg.Wait()
	close(done)
	<-sampled
	for i, f := range found {
		if f == nil || (f.Rule != "injected-secret" && f.Rule != compressedRule) {
			t.Errorf("scan %d: %+v, want the secret found (or the data refused as past the scan)", i, f)
		}
	}
	held := int64(peak.Load()) - int64(before.HeapInuse)
	if bound := int64(maxInflating + 32<<20); held > bound {
		t.Errorf("%d scans at once held %d MiB of heap; inflations at once are bounded to %d MiB (and the data sent, the scanner's own)", atOnce, held>>20, maxInflating>>20)
	}
	t.Logf("peak heap over the start: %d MiB", held>>20)
}
