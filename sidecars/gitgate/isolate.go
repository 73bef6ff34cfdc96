package gitgate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/workspace"
)

// go-git reads on the host what a container wrote (the agent's git folder,
// the gate's mirrors): crafted objects (a delta on itself, a packed bomb)
// can make a reader recurse until the Go runtime's fatal stack overflow, or
// eat memory, and no recover catches either. So those reads run in a
// process of their own, bounded in stack, memory and time: a crafted git
// folder makes the fetch fail and is said, never takes bottle down with it.

// childEnv marks the process as that reader; traceEnv asks it to write
// each path it touches (internal/beneath's trace) to its fourth file, one
// JSON line each, as it goes: the hostile-tree harness plants at the
// reader's paths too, even one that dies.
const (
	childEnv = "BOTTLE_GIT_READER"
	traceEnv = "BOTTLE_GIT_READER_TRACE"
)

// ReaderStack bounds the reader's stack. A test binary whose tests make
// readers die may lower it before it calls ChildMain: the death comes
// sooner, and is the same death.
var ReaderStack = 64 << 20

// Bounds on the reader.
const (
	childMemory = 4 << 30 // address space
	childTime   = 10 * time.Minute
)

type childRequest struct {
	Op      string            `json:"op"` // "branches" or "pushed"
	Root    string            `json:"root"`
	Sub     string            `json:"sub"`
	Record  *workspace.Record `json:"record"`
	Prefix  string            `json:"prefix,omitempty"`
	OnlyNew bool              `json:"only_new,omitempty"`
	Only    string            `json:"only,omitempty"`
}

type childAnswer struct {
	Lines []string `json:"lines"`
	Error string   `json:"error,omitempty"`
}

// ChildMain runs the reader when this process was started as one, and
// then exits; otherwise it returns at once. A program (and a test binary
// whose tests fetch) calls it first thing.
func ChildMain() {
	if os.Getenv(childEnv) != "1" {
		return
	}
	debug.SetMaxStack(ReaderStack)
	syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: childMemory, Max: childMemory})
	if os.Getenv(traceEnv) == "1" {
		enc := json.NewEncoder(os.NewFile(3, "trace"))
		beneath.Trace(func(tc beneath.Touch) { enc.Encode(tc) })
	}
	var req childRequest
	var ans childAnswer
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		ans.Error = err.Error()
	} else {
		ans.Lines, ans.Error = serve(req)
	}
	json.NewEncoder(os.Stdout).Encode(ans)
	os.Exit(0)
}

func serve(req childRequest) ([]string, string) {
	d, err := beneath.FromSpec(req.Root, req.Sub)
	if err != nil {
		return nil, err.Error()
	}
	var lines []string
	switch req.Op {
	case "branches":
		lines, err = FetchBranches(d, req.Record, req.Prefix, req.OnlyNew)
	case "pushed":
		lines, err = FetchPushed(d, req.Record, req.Only)
	default:
		err = fmt.Errorf("no such read %q", req.Op)
	}
	if err != nil {
		return lines, err.Error()
	}
	return lines, ""
}

// FetchBranchesApart is FetchBranches in a reader of its own.
func FetchBranchesApart(ctx context.Context, gitDir beneath.Dir, ws *workspace.Record, prefix string, onlyNew bool) ([]string, error) {
	root, sub := gitDir.Spec()
	return apart(ctx, childRequest{Op: "branches", Root: root, Sub: sub, Record: ws, Prefix: prefix, OnlyNew: onlyNew})
}

// FetchPushedApart is FetchPushed in a reader of its own.
func FetchPushedApart(ctx context.Context, dir beneath.Dir, ws *workspace.Record, only string) ([]string, error) {
	root, sub := dir.Spec()
	return apart(ctx, childRequest{Op: "pushed", Root: root, Sub: sub, Record: ws, Only: only})
}

func apart(ctx context.Context, req childRequest) ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("git reader: %w", err)
	}
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, childTime)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	// Only this process says whether the reader traces: one of the
	// person's environment would have it write to whatever its fd 3 is.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, traceEnv+"=") })
	cmd.Env = append(cmd.Env, childEnv+"=1")
	cmd.Stdin = bytes.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &limited{w: &errb, n: 4096}
	var touched chan []beneath.Touch
	if beneath.Tracing() {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("git reader: %w", err)
		}
		cmd.Env = append(cmd.Env, traceEnv+"=1")
		cmd.ExtraFiles = []*os.File{w}
		touched = make(chan []beneath.Touch, 1)
		go func() {
			defer r.Close()
			var ts []beneath.Touch
			for dec := json.NewDecoder(r); ; {
				var tc beneath.Touch
				if dec.Decode(&tc) != nil {
					break
				}
				ts = append(ts, tc)
			}
			touched <- ts
		}()
		defer func() { w.Close(); beneath.Replay(<-touched) }()
	}
	runErr := cmd.Run()
	var ans childAnswer
	if jerr := json.Unmarshal(out.Bytes(), &ans); jerr != nil || runErr != nil {
		why := firstLine(errb.String())
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = "it took longer than " + childTime.String()
		}
		if why == "" && runErr != nil {
			why = runErr.Error()
		}
		// What the reader wrote before it died is the owner's all the same.
		return nil, errors.Join(fmt.Errorf("the git folder could not be read (%s): it was made to make git readers fail", why), giveBack(req.Record))
	}
	if ans.Error != "" {
		return ans.Lines, errors.New(ans.Error)
	}
	return ans.Lines, nil
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// limited keeps the first n bytes written to it.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
