package egress

import (
	"bytes"
	"slices"
	"sync"

	"github.com/bottle-sandbox/bottle/internal/dlp"
)

// The split watch catches a secret sent in pieces: across headers of one
// request, or across requests to the same host, with requests to other
// hosts in between. Per host it keeps the recent fragments that were new
// (a value already seen, such as a client's fixed headers, is left out, so
// the pieces an agent varies end up next to each other), and scans what
// the new ones of this request make with those before them, and each pair
// of this request's new fragments in either order.

const (
	splitFrags  = 64   // fragments kept per host
	splitBytes  = 4096 // bytes of them at most
	splitTail   = 512  // how much of the kept ones this request is joined to
	splitPairs  = 16   // new fragments of one request tried in pairs
	splitStarts = 8    // kept fragments a join may start at
	splitHosts  = 256  // hosts kept; the one unused longest goes first
)

type splitWatch struct {
	mu    sync.Mutex
	hosts map[string]*window
	clock int
}

type window struct {
	frags [][]byte
	used  int
}

func (w *splitWatch) check(s *dlp.Scanner, host string, frags [][]byte) *dlp.Finding {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hosts == nil {
		w.hosts = map[string]*window{}
	}
	win := w.hosts[host]
	if win == nil {
		if len(w.hosts) >= splitHosts {
			w.evict()
		}
		win = &window{}
		w.hosts[host] = win
	}
	w.clock++
	win.used = w.clock

	var novel [][]byte
	for _, f := range frags {
		if !slices.ContainsFunc(win.frags, func(k []byte) bool { return bytes.Equal(k, f) }) &&
			!slices.ContainsFunc(novel, func(k []byte) bool { return bytes.Equal(k, f) }) {
			novel = append(novel, f)
		}
	}
	if len(novel) == 0 {
		return nil
	}
	// What this request's new fragments make with the kept ones before
	// them: scanned from each of the last few fragment starts, after a
	// line break, so a key that starts where a fragment starts has the
	// boundary its pattern wants.
	seq := append(slices.Clone(win.frags), novel...)
	first, size := len(win.frags), 0
	for first > 0 && size < splitTail && len(win.frags)-first < splitStarts {
		first--
		size += len(win.frags[first])
	}
	for i := first; i < len(win.frags)+len(novel); i++ {
		joined := []byte{'\n'}
		for _, f := range seq[i:] {
			joined = append(joined, f...)
		}
		if f := s.Scan(joined[:min(len(joined), 2*splitTail)], "body"); f != nil {
			f.Where = "this request and the ones before it to " + host + " (a secret sent in pieces)"
			return f
		}
	}
	pairs := novel[:min(len(novel), splitPairs)]
	for i, a := range pairs {
		for j, b := range pairs {
			if i == j {
				continue
			}
			if f := s.Scan(append(append([]byte{'\n'}, a...), b...), "headers"); f != nil {
				f.Where = "two parts of this request (a secret sent in pieces)"
				return f
			}
		}
	}
	win.frags = append(win.frags, novel...)
	size = 0
	for i := len(win.frags) - 1; i >= 0; i-- {
		if size += len(win.frags[i]); size > splitBytes || len(win.frags)-i > splitFrags {
			win.frags = slices.Clone(win.frags[i+1:])
			break
		}
	}
	return nil
}

func (w *splitWatch) evict() {
	oldest, at := "", w.clock+1
	for h, win := range w.hosts {
		if win.used < at {
			oldest, at = h, win.used
		}
	}
	delete(w.hosts, oldest)
}
