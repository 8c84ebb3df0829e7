package rttest

import (
	"net/http"
	"strings"
)

// Action is what an injected fault does to a request.
type Action int

const (
	// Fail answers Fault.Status (default 500) without performing the
	// request, with Retry-After when Fault.RetryAfter is set (use 429 or
	// 503 for rate limiting).
	Fail Action = iota
	// ResetBefore drops the connection without performing the request.
	ResetBefore
	// ResetAfter performs the request, then drops the connection before
	// answering: the client cannot know it succeeded.
	ResetAfter
	// HangAfter performs the request, signals Server.Hung and then holds
	// the connection until the client gives up (timeout or cancellation).
	HangAfter
)

// Fault describes requests to disturb and how.
type Fault struct {
	// Method and Path select requests: Method "" matches any; Path is the
	// path below /REST/2.0 ("/ticket", "/tickets"), matched exactly, or as a
	// prefix when it ends in "*" ("/ticket/*"). "" matches any path.
	Method string
	Path   string
	// Every makes the fault hit every Nth matching request (1 or 0: all),
	// counting from the first, so "a share of requests" is deterministic.
	Every int
	// Times stops the fault after it hit this many requests; 0: no limit.
	Times int
	Do    Action
	// Status for Fail; default 500.
	Status int
	// RetryAfter is the Retry-After header value for Fail, e.g. "3" or an
	// HTTP date.
	RetryAfter string
}

type faultState struct {
	Fault
	seen, hits int
}

// Inject adds a fault. Faults are tried in the order they were added; the
// first that hits a request applies.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f})
}

// ClearFaults removes all faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// FaultHits returns how many requests the faults hit, in Inject order.
func (s *Server) FaultHits() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, len(s.faults))
	for i, f := range s.faults {
		out[i] = f.hits
	}
	return out
}

func (s *Server) matchFault(r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/REST/2.0")
	for _, f := range s.faults {
		if f.Method != "" && f.Method != r.Method {
			continue
		}
		if p, prefix := strings.CutSuffix(f.Path, "*"); f.Path != "" && ((prefix && !strings.HasPrefix(path, p)) || (!prefix && path != f.Path)) {
			continue
		}
		if f.Times > 0 && f.hits >= f.Times {
			continue
		}
		f.seen++
		every := max(f.Every, 1)
		if (f.seen-1)%every != 0 {
			continue
		}
		f.hits++
		fault := f.Fault
		return &fault
	}
	return nil
}
