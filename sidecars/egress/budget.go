package egress

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bottle-sandbox/bottle/internal/sse"
	"golang.org/x/sync/semaphore"
)

// The proxy reads what it scans whole (a request body up to 16 MiB, a
// response up to 4 MiB, a WebSocket message, an event), in a container of
// 256 MiB that the supervise server shares: with no bound on how much is
// held at once, a few dozen uploads at once would have it killed. The
// budget is that bound: what is read whole is first taken from it, in
// order of arrival; a request that finds it spent waits (its body stays
// in the agent's socket meanwhile) and, past maxWait, is answered 503.

const (
	// heldBytes is how much the proxy holds at once, counted as holdCost:
	// with the garbage it leaves until collected, the binary's pages and
	// the supervise server, the container stays well under its limit.
	heldBytes = 64 << 20
	// maxWait is how long a request waits for room before its 503.
	maxWait = 2 * time.Minute
	// firstBytes is what is read of a body of unknown length before it is
	// known to be longer.
	firstBytes = 64 << 10
)

// holdCost is what reading and scanning n bytes holds at once: the bytes,
// and the copies the scan makes of them (decoded forms, fields and parts).
func holdCost(n int64) int64 { return 2 * n }

type budget struct {
	sem  *semaphore.Weighted
	size int64
	wait time.Duration
	// stall is how long a body holding room may send nothing (stallAfter).
	stall time.Duration
}

func newBudget(size int64, wait time.Duration) *budget {
	return &budget{sem: semaphore.NewWeighted(size), size: size, wait: wait, stall: stallAfter}
}

// errBusy is what a request that waited too long is told: how long it
// waited, which is the budget's wait unless its client gave up first.
type errBusy struct {
	size   int64
	waited time.Duration
}

func (e errBusy) Error() string {
	return fmt.Sprintf("the proxy is scanning as much as it holds at once (%d MiB) and this request waited %s for room: send it again shortly, or fewer at once", e.size>>20, e.waited)
}

// take waits for n bytes of room (at most the whole budget) and returns
// what gives them back.
func (b *budget) take(ctx context.Context, n int64) (func(), error) {
	n = min(n, b.size)
	if n <= 0 {
		return func() {}, nil
	}
	t0 := time.Now()
	wctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	if err := b.sem.Acquire(wctx, n); err != nil {
		waited := b.wait
		if ctx.Err() != nil { // the client gave up first
			waited = roundWait(time.Since(t0))
		}
		return nil, errBusy{b.size, waited}
	}
	return func() { b.sem.Release(n) }, nil
}

// roundWait is a wait as a person reads it: to the second, or to the
// millisecond under one.
func roundWait(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// tryTake takes n bytes of room if they are free now.
func (b *budget) tryTake(n int64) (func(), bool) {
	n = min(n, b.size)
	if n <= 0 {
		return func() {}, true
	}
	if !b.sem.TryAcquire(n) {
		return nil, false
	}
	return func() { b.sem.Release(n) }, true
}

// readBody reads the whole body (up to maxScan), once the budget has
// room for it, and puts it back for the upstream, as it came; the room is
// given back when the body is closed. While it holds room the body is read
// paced on conn (the client's connection, nil when unknown): one that
// stops coming gets errStalled, and its room back at once.
func (p *Proxy) readBody(r *http.Request, conn net.Conn) ([]byte, string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, "", nil
	}
	tooLarge := fmt.Sprintf("the request body is larger than %d MiB, past what is scanned", maxScan>>20)
	if r.ContentLength > maxScan {
		r.Body.Close()
		return nil, tooLarge, nil
	}
	var body []byte
	var release func()
	var err error
	paced := p.budget.pace(r.Body, conn)
	if n := r.ContentLength; n >= 0 {
		if release, err = p.budget.take(r.Context(), holdCost(n)); err != nil {
			return nil, "", err
		}
		body = make([]byte, n)
		paced.allow(n)
		_, err = io.ReadFull(paced, body)
	} else {
		// Of unknown length: the first bytes, then room for the most it
		// may be.
		if release, err = p.budget.take(r.Context(), holdCost(firstBytes)); err != nil {
			return nil, "", err
		}
		paced.allow(firstBytes)
		body, err = io.ReadAll(io.LimitReader(paced, firstBytes+1))
		if err == nil && len(body) > firstBytes {
			more, werr := p.budget.take(r.Context(), holdCost(maxScan)-holdCost(firstBytes))
			if werr != nil {
				paced.done()
				release()
				return nil, "", werr
			}
			first := release
			release = func() { first(); more() }
			var rest []byte
			paced.allow(maxScan)
			rest, err = io.ReadAll(io.LimitReader(paced, maxScan+1-int64(len(body))))
			body = append(body, rest...)
		}
	}
	stalled := paced.done()
	r.Body.Close()
	if err != nil || len(body) > maxScan {
		release()
		if stalled {
			return nil, "", errStalled{p.budget.stall}
		}
		if err != nil {
			return nil, "the request body could not be read whole to be scanned", nil
		}
		return nil, tooLarge, nil
	}
	r.Body = newHeldBody(body, release)
	r.ContentLength = int64(len(body))
	return body, "", nil
}

// heldBody is a body read whole, put back for whoever reads it next: its
// room in the budget is given back, and its bytes let go (the request
// lives on until its response was relayed), when it is closed (the
// transport closes a request's body once sent, goproxy a response's once
// relayed); if nobody ever closes it, when it is collected.
type heldBody struct {
	mu   sync.Mutex // a transport may close a body while it reads it
	r    *bytes.Reader
	back *giveBack
}

type giveBack struct {
	once    sync.Once
	release func()
}

func (g *giveBack) do() { g.once.Do(g.release) }

func newHeldBody(b []byte, release func()) *heldBody {
	h := &heldBody{r: bytes.NewReader(b), back: &giveBack{release: release}}
	runtime.AddCleanup(h, (*giveBack).do, h.back)
	return h
}

func (h *heldBody) Read(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.r.Read(p)
}

func (h *heldBody) Close() error {
	h.mu.Lock()
	h.r.Reset(nil)
	h.mu.Unlock()
	h.back.do()
	return nil
}

// closeBody gives back what a request's body held, when the request goes
// no further.
func closeBody(r *http.Request) {
	if h, ok := r.Body.(*heldBody); ok {
		h.Close()
	}
}

// LimitMemory has the Go runtime collect harder as the process nears its
// container's memory limit (cgroup v2's memory.max), so garbage does not
// get it killed: the limit less a quarter, for what is not the heap.
func LimitMemory() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	data, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		if data, err = os.ReadFile("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil { // cgroup v1
			return
		}
	}
	limit, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || limit <= 0 || limit >= 1<<50 {
		return // "max", or v1's number for none
	}
	debug.SetMemoryLimit(limit - limit/4)
}

// freeEvent is how much of an unfinished event a stream holds before it
// takes room in the budget: what nearly every event is.
const freeEvent = 64 << 10

// eventReader is an event stream's parser whose unfinished event takes
// room in the budget as it grows past freeEvent (a MiB at a time, waiting
// for it as a request does); the room goes once the event is whole.
type eventReader struct {
	sse.Parser
	b    *budget
	held int64
	back []func()
}

func newEventReader(b *budget) *eventReader {
	return &eventReader{Parser: sse.Parser{Max: maxScan}, b: b}
}

// feed is Parser.Feed, and an error when the budget had no room in time.
func (r *eventReader) feed(b []byte, eof bool) ([]sse.Event, error) {
	evs, err := r.Parser.Feed(b, eof)
	if err != nil {
		r.release()
		return evs, fmt.Errorf("an event in it is longer than %d MiB, past what is scanned", maxScan>>20)
	}
	pending := int64(r.Pending())
	switch need := holdCost(pending); {
	case pending <= freeEvent:
		r.release()
	case need > r.held:
		step := max(need-r.held, 1<<20)
		back, err := r.b.take(context.Background(), step)
		if err != nil {
			r.release()
			return evs, err
		}
		r.back, r.held = append(r.back, back), r.held+step
	}
	return evs, nil
}

func (r *eventReader) release() {
	for _, f := range r.back {
		f()
	}
	r.back, r.held = nil, 0
}
