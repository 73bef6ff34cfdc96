package egress

import (
	"io"
	"net/url"
	"sync"

	"github.com/bottle-sandbox/bottle/internal/sse"
)

// eventStream is an MCP server's event stream on its way to the agent,
// written whole events at a time: the proxy may add an event of its own
// between the server's (the answer to a call it refused).
type eventStream struct {
	src io.ReadCloser
	pw  *io.PipeWriter
	mu  sync.Mutex
}

func (s *eventStream) write(event []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.pw.Write(event)
	return err
}

func (s *eventStream) add(message []byte) {
	s.write(sse.Encode(sse.Event{Type: "message"}, message))
}

// register notes where an older-transport stream's requests are posted
// (the endpoint, relative to the stream's URL).
func (w *mcpWatch) register(server, endpoint string, base *url.URL, st *eventStream) {
	u, err := base.Parse(endpoint)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.streams == nil {
		w.streams = map[string]*eventStream{}
	}
	w.streams[server+" "+u.RequestURI()] = st
}

func (w *mcpWatch) forget(st *eventStream) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, v := range w.streams {
		if v == st {
			delete(w.streams, k)
		}
	}
}

// answerOnStream sends the refusal of a call posted to an older-transport
// endpoint on that endpoint's stream; false when the call was not posted
// to one.
func (w *mcpWatch) answerOnStream(server string, u *url.URL, refusal []byte) bool {
	w.mu.Lock()
	st := w.streams[server+" "+u.RequestURI()]
	w.mu.Unlock()
	if st == nil || refusal == nil {
		return false
	}
	st.add(refusal)
	return true
}
