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
//
// Unrelated requests to the same host may come between the pieces, and
// bring new fragments of their own. So per host and per place (a header's
// name, a query parameter, the body, the host's free labels) it also keeps
// the run of the last chainBytes of the pieces sent there, of any length
// from one character, and where in it a secret may begin (dlp's Begins: a
// known format's beginning, raw, in ROT13 or encoded at any alignment, or
// one of the bottle's secrets', at any offset in a piece, since a key may
// start inside one). Only from those is the run scanned as it grows, so
// most runs (request ids, cursors, nonces) cost an append and a look at
// each of their bytes; a format's beginning reversed, when it comes, has
// the run scanned once from each piece's start (a key sent backwards is
// whole by then): the pieces of one secret travel in one place, whatever
// else travels beside them.
//
// Per place it also keeps chains of the pieces that look like parts of a
// key (letters with digits, or both cases, no spaces): a few subsets of
// the recent ones, so a piece of something else in that place between two
// of a key's is skipped. A chain is scanned with a new piece at its end
// only when the two hold a beginning whole (dlp's HoldsBeginning): no key
// is found in what holds none, and most chains of ids hold none.

const (
	splitFrags  = 64   // fragments kept per host
	splitBytes  = 4096 // bytes of them at most
	splitTail   = 512  // how much of the kept ones this request is joined to
	splitPairs  = 16   // new fragments of one request tried in pairs
	splitStarts = 8    // kept fragments a join may start at
	splitHosts  = 256  // hosts kept; the one unused longest goes first
	chainPlaces = 16   // places with chains, per host
	chainsKept  = 8    // chains per place
	chainBytes  = 256  // longest chain
	pieceMin    = 4    // shortest piece of a key worth chaining (shorter ones go in the run)
	pieceMax    = 128  // longest
	runMinKey   = 16   // bytes from a beginning before the run is scanned from it: no key is shorter
)

// fragment is a piece of a request and its place ("" when unknown).
type fragment struct {
	place string
	data  []byte
}

type splitWatch struct {
	mu    sync.Mutex
	hosts map[string]*window
	clock int
}

type window struct {
	frags  [][]byte
	used   int
	chains map[string]*chains // by place
	clock  int
}

// chains are the recent chains of pieces in one place, newest last.
type chains struct {
	list  [][]byte
	holds []bool // for each chain, whether it holds a beginning whole
	// run is the last chainBytes of the pieces in a row; starts are where
	// each of them starts in it, heads where a secret may begin in it.
	run    []byte
	starts []int
	heads  []runHead
	last   []byte // the newest piece: the same value again (a client's fixed header) adds nothing
	used   int
	made   int
}

// runHead is where in a run a secret may begin, and where a scan for it
// starts (before it, when its encoding is out of step).
type runHead struct{ at, from int }

// checkPlaced looks at a request's fragments, each in its place.
func (w *splitWatch) checkPlaced(s *dlp.Scanner, host string, placed []fragment) *dlp.Finding {
	w.mu.Lock()
	defer w.mu.Unlock()
	frags := make([][]byte, len(placed))
	for i, f := range placed {
		frags[i] = f.data
	}
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
	// What pieces make together is looked at for real keys only: half a
	// key and whatever came next is no filler in a key's format.
	s = s.Entrusted().Pieces()
	if f := win.chain(s, host, placed); f != nil {
		return f
	}

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

// chain scans each piece of this request at the end of the chains kept in
// its place, then keeps the chains it makes.
func (win *window) chain(s *dlp.Scanner, host string, placed []fragment) *dlp.Finding {
	for _, f := range placed {
		key := keyPiece(f.data)
		if f.place == "" || !key && !extends(f) {
			continue
		}
		own := win.place(f.place)
		if bytes.Equal(own.last, f.data) && !own.goesOn(s, f.data) {
			continue // the same value again: it adds nothing, here or among all places, unless it goes on a beginning
		}
		if found := own.add(s, f.data, key); found != nil {
			found.Where = "this request and the ones before it to " + host + ", in " + f.place + " (a secret sent in pieces)"
			return found
		}
		// Among all the host's pieces too: a key may also be split across
		// places (a header, then a query).
		if any := win.place("any place"); key && !bytes.Equal(any.last, f.data) {
			if found := any.add(s, f.data, key); found != nil {
				found.Where = "this request and the ones before it to " + host + ", in any place (a secret sent in pieces)"
				return found
			}
		}
	}
	return nil
}

// place is the chains of a place, made when there are none yet. Past
// chainPlaces one is dropped: the place unused longest of those where no
// secret may have begun; when a secret may have begun in each, the one
// made last. Requests with many places of their own between a key's
// pieces would otherwise push the key's place out (seen: a key sent four
// characters a request, twenty new query parameters after each, got out).
func (win *window) place(name string) *chains {
	if win.chains == nil {
		win.chains = map[string]*chains{}
	}
	cs := win.chains[name]
	if cs == nil {
		if len(win.chains) >= chainPlaces {
			oldest, at := "", win.clock+1
			newest, made := "", -1
			for pl, c := range win.chains {
				if len(c.heads) == 0 && c.used < at {
					oldest, at = pl, c.used
				}
				if c.made > made {
					newest, made = pl, c.made
				}
			}
			if oldest == "" {
				oldest = newest
			}
			delete(win.chains, oldest)
		}
		cs = &chains{made: win.clock}
		win.chains[name] = cs
	}
	win.clock++
	cs.used = win.clock
	return cs
}

// add puts a new piece in the run, and a key-like one at the end of each
// chain, scanning what they make.
func (cs *chains) add(s *dlp.Scanner, piece []byte, key bool) *dlp.Finding {
	cs.last = append(cs.last[:0], piece...)
	if found := cs.extendRun(s, piece); found != nil || !key {
		return found // a piece that is not key-like goes in the run only: it may go on a beginning
	}
	holds := s.HoldsBeginning(piece)
	grown := make([][]byte, 0, len(cs.list)+1)
	grownHolds := make([]bool, 0, len(cs.list)+1)
	for i, c := range cs.list {
		joined := append(append([]byte{'\n'}, c...), piece...)
		// A beginning in the chain, in the piece, or across where they meet.
		h := cs.holds[i] || holds || s.HoldsBeginningAcross(c, piece)
		if h {
			if found := s.Scan(joined, "body"); found != nil {
				return found
			}
		}
		if len(joined)-1 <= chainBytes {
			grown, grownHolds = append(grown, joined[1:]), append(grownHolds, h)
		}
	}
	grown, grownHolds = append(grown, slices.Clone(piece)), append(grownHolds, holds)
	cs.list, cs.holds = append(cs.list, grown...), append(cs.holds, grownHolds...)
	if len(cs.list) > chainsKept {
		cs.list = slices.Clone(cs.list[len(cs.list)-chainsKept:])
		cs.holds = slices.Clone(cs.holds[len(cs.holds)-chainsKept:])
	}
	return nil
}

// goesOn reports whether piece, put in the run again right after itself,
// goes on a beginning in it: a key's next piece may be the same as its
// last (aB, aB). A beginning whole in that last piece itself does not
// count: a client's fixed value that holds one (a session id) would have
// the run scanned on every request.
func (cs *chains) goesOn(s *dlp.Scanner, piece []byte) bool {
	if len(cs.starts) == 0 {
		return false
	}
	last, n := cs.starts[len(cs.starts)-1], dlp.LongestBeginning()
	var buf [128]byte
	for _, h := range cs.heads {
		head := cs.run[h.at:min(len(cs.run), h.at+n)]
		if h.at >= last && s.HoldsBeginning(head) {
			continue
		}
		if s.MayBegin(append(append(buf[:0], head...), piece[:min(len(piece), n-len(head))]...)) {
			return true
		}
	}
	return false
}

// extends reports whether f, not key-like itself, belongs in its place's
// run all the same: token characters only (AKIA, the rest of an AWS key in
// capitals, a reversed key's _phg ending, two characters of a key), which
// cost the run an append.
func extends(f fragment) bool {
	return len(f.data) >= 1 && len(f.data) <= pieceMax && tokenOnly(f.data)
}

// extendRun adds piece to the run, drops what lies more than chainBytes
// back, and scans the run from each beginning in it that is long enough to
// hold a key; when a format's beginning reversed has come, from each
// piece's start, once.
func (cs *chains) extendRun(s *dlp.Scanner, piece []byte) *dlp.Finding {
	at := len(cs.run)
	cs.run = append(cs.run, piece...)
	cs.starts = append(cs.starts, at)
	// A beginning the pieces after it no longer agree with is dropped; a
	// secret may begin anywhere in the new piece.
	cs.heads = slices.DeleteFunc(cs.heads, func(h runHead) bool { return !s.MayBegin(cs.run[h.at:]) })
	for k := at; k < len(cs.run); k++ {
		if back, ok := s.Begins(cs.run[k:]); ok {
			cs.heads = append(cs.heads, runHead{at: k, from: max(0, k-back)})
		}
	}
	if cut := len(cs.run) - chainBytes; cut > 0 {
		cs.run = cs.run[:copy(cs.run, cs.run[cut:])]
		at -= cut
		cs.starts = shifted(cs.starts, cut)
		kept := cs.heads[:0]
		for _, h := range cs.heads {
			if h.at >= cut {
				kept = append(kept, runHead{at: h.at - cut, from: max(0, h.from-cut)})
			}
		}
		cs.heads = kept
	}
	scan := func(from int) *dlp.Finding {
		return s.Scan(append([]byte{'\n'}, cs.run[from:]...), "body")
	}
	for _, h := range cs.heads {
		if len(cs.run)-h.at >= runMinKey {
			if f := scan(h.from); f != nil {
				return f
			}
		}
	}
	if dlp.EndsBackwards(cs.run, len(cs.run)-at) {
		for _, st := range cs.starts[:len(cs.starts)-1] {
			if f := scan(st); f != nil {
				return f
			}
		}
	}
	return nil
}

// shifted is offsets moved cut back, those that fall off dropped.
func shifted(offsets []int, cut int) []int {
	kept := offsets[:0]
	for _, o := range offsets {
		if o >= cut {
			kept = append(kept, o-cut)
		}
	}
	return kept
}

// tokenOnly reports whether b holds only the characters of a key's piece.
func tokenOnly(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' ||
			c == '-' || c == '_' || c == '+' || c == '/' || c == '=' || c == '.') {
			return false
		}
	}
	return true
}

// keyPiece reports whether a fragment may be part of a key: token
// characters only, letters with digits or in both cases.
func keyPiece(b []byte) bool {
	if len(b) < pieceMin || len(b) > pieceMax {
		return false
	}
	var digit, upper, lower bool
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			digit = true
		case 'A' <= c && c <= 'Z':
			upper = true
		case 'a' <= c && c <= 'z':
			lower = true
		case c == '-' || c == '_' || c == '+' || c == '/' || c == '=' || c == '.':
		default:
			return false
		}
	}
	return (upper || lower) && (digit || upper && lower)
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
