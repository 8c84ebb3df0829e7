package connectors

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

func response(method string, code int, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: code, Header: h, Request: &http.Request{Method: method}}
}

// TestClassifyStatus is the RetryTests table: every status-code class, for a
// method with effects (POST) and a safe one (GET).
func TestClassifyStatus(t *testing.T) {
	const date = "Wed, 21 Oct 2015 07:28:00 GMT"
	tests := []struct {
		code       int
		header     []string
		post, get  Kind // Kind for POST and for GET
		retryAfter time.Duration
		unauth     bool
	}{
		{code: 301, post: Permanent, get: Permanent, unauth: true},
		{code: 302, header: []string{"Location", "/"}, post: Permanent, get: Permanent, unauth: true},
		{code: 304, post: Permanent, get: Permanent, unauth: true},
		{code: 400, post: Permanent, get: Permanent},
		{code: 401, post: Permanent, get: Permanent, unauth: true},
		{code: 403, post: Permanent, get: Permanent},
		{code: 404, post: Permanent, get: Permanent},
		{code: 405, post: Permanent, get: Permanent},
		{code: 408, post: Retryable, get: Retryable},
		{code: 409, post: Retryable, get: Retryable},
		{code: 410, post: Permanent, get: Permanent},
		{code: 412, post: Permanent, get: Permanent},
		{code: 413, post: Permanent, get: Permanent},
		{code: 415, post: Permanent, get: Permanent},
		{code: 422, post: Permanent, get: Permanent},
		{code: 423, post: Retryable, get: Retryable},
		{code: 425, post: Retryable, get: Retryable},
		{code: 429, post: Retryable, get: Retryable},
		{code: 429, header: []string{"Retry-After", "120"}, post: Retryable, get: Retryable, retryAfter: 2 * time.Minute},
		{code: 429, header: []string{"Retry-After", "Wed, 21 Oct 2015 07:29:30 GMT", "Date", date}, post: Retryable, get: Retryable, retryAfter: 90 * time.Second},
		{code: 429, header: []string{"Retry-After", "Wed, 21 Oct 2015 07:27:00 GMT", "Date", date}, post: Retryable, get: Retryable},
		{code: 429, header: []string{"Retry-After", "soon"}, post: Retryable, get: Retryable},
		{code: 429, header: []string{"Retry-After", "-5"}, post: Retryable, get: Retryable},
		{code: 451, post: Permanent, get: Permanent},
		{code: 500, post: Retryable, get: Retryable},
		{code: 501, post: Retryable, get: Retryable},
		{code: 502, post: Unknown, get: Retryable},
		{code: 503, post: Retryable, get: Retryable},
		{code: 503, header: []string{"Retry-After", "7"}, post: Retryable, get: Retryable, retryAfter: 7 * time.Second},
		{code: 504, post: Unknown, get: Retryable},
		{code: 599, post: Retryable, get: Retryable},
	}
	for _, tt := range tests {
		for _, m := range []struct {
			method string
			want   Kind
		}{{http.MethodPost, tt.post}, {http.MethodGet, tt.get}} {
			t.Run(fmt.Sprintf("%d_%s_%v", tt.code, m.method, tt.header), func(t *testing.T) {
				err := Classify(response(m.method, tt.code, tt.header...), nil)
				var ce *Error
				if !errors.As(err, &ce) {
					t.Fatalf("Classify = %v, want *Error", err)
				}
				if ce.Kind != m.want || ce.StatusCode != tt.code || ce.RetryAfter != tt.retryAfter {
					t.Errorf("got kind %s, code %d, retry after %s; want %s, %d, %s",
						ce.Kind, ce.StatusCode, ce.RetryAfter, m.want, tt.code, tt.retryAfter)
				}
				if got := errors.Is(err, ErrUnauthenticated); got != tt.unauth {
					t.Errorf("errors.Is(ErrUnauthenticated) = %v, want %v", got, tt.unauth)
				}
			})
		}
	}
}

func TestClassifySuccess(t *testing.T) {
	for _, code := range []int{200, 201, 204} {
		if err := Classify(response(http.MethodPost, code), nil); err != nil {
			t.Errorf("Classify(%d) = %v, want nil", code, err)
		}
	}
	// A 2xx whose body the connector could not use: the call happened.
	bad := errors.New("decoding answer: unexpected EOF")
	if k := KindOf(Classify(response(http.MethodPost, 201), bad)); k != Unknown {
		t.Errorf("201 + unreadable body on POST: %s, want unknown", k)
	}
	if k := KindOf(Classify(response(http.MethodGet, 200), bad)); k != Retryable {
		t.Errorf("200 + unreadable body on GET: %s, want retryable", k)
	}
	if err := Classify(nil, nil); err != nil {
		t.Errorf("Classify(nil, nil) = %v", err)
	}
}

// TestClassifyTransport covers every network error kind, as constructed
// values with the shapes net/http returns.
func TestClassifyTransport(t *testing.T) {
	post := func(err error) error { return &url.Error{Op: "Post", URL: "http://rt/", Err: err} }
	get := func(err error) error { return &url.Error{Op: "Get", URL: "http://rt/", Err: err} }
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os_SyscallError{syscall.ECONNREFUSED}}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: &os_SyscallError{syscall.ECONNRESET}}
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"connection refused", post(refused), Retryable},
		{"bare ECONNREFUSED", post(syscall.ECONNREFUSED), Retryable},
		{"host unreachable", post(&net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}), Retryable},
		{"network unreachable", post(syscall.ENETUNREACH), Retryable},
		{"DNS failure", post(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "rt", IsNotFound: true}}), Retryable},
		{"dial timeout", post(&net.OpError{Op: "dial", Err: timeoutError{}}), Retryable},
		{"TLS certificate", post(&tls.CertificateVerificationError{Err: errors.New("x509: unknown authority")}), Retryable},
		{"TLS record header", post(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), Retryable},
		{"marked not sent", post(NotSent(context.DeadlineExceeded)), Retryable},
		{"reset after send, POST", post(reset), Unknown},
		{"reset after send, GET", get(reset), Retryable},
		{"EOF after send, POST", post(io.ErrUnexpectedEOF), Unknown},
		{"EOF after send, GET", get(io.EOF), Retryable},
		{"client timeout, POST", post(timeoutError{}), Unknown},
		{"client timeout, GET", get(timeoutError{}), Retryable},
		{"deadline, POST", post(context.DeadlineExceeded), Unknown},
		{"cancelled, POST", post(context.Canceled), Unknown},
		{"cancelled, PUT", &url.Error{Op: "Put", Err: context.Canceled}, Unknown},
		{"cancelled, DELETE", &url.Error{Op: "Delete", Err: context.Canceled}, Unknown},
		{"unwrapped error", errors.New("something"), Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Classify(nil, tt.err)
			if k := KindOf(err); k != tt.want {
				t.Errorf("kind %s, want %s (err %v)", k, tt.want, err)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("classified error does not wrap the original")
			}
		})
	}
}

// os_SyscallError stands in for *os.SyscallError (same Unwrap shape) so the
// table reads like the errors net returns.
type os_SyscallError struct{ err error }

func (e *os_SyscallError) Error() string { return "syscall: " + e.err.Error() }
func (e *os_SyscallError) Unwrap() error { return e.err }

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// TestClassifyRealTransport produces the errors with a real http.Client
// against local listeners, so a change in net/http's error shapes shows.
func TestClassifyRealTransport(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = http.Post("http://"+addr+"/", "text/plain", strings.NewReader("x"))
		if k := KindOf(Classify(nil, err)); k != Retryable {
			t.Errorf("kind %s, want retryable (err %v)", k, err)
		}
	})
	resetServer := func(t *testing.T) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // the request arrived in full
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST rather than FIN
			}
			conn.Close()
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	t.Run("reset after send, POST", func(t *testing.T) {
		_, err := http.Post(resetServer(t), "text/plain", strings.NewReader("x"))
		if k := KindOf(Classify(nil, err)); k != Unknown {
			t.Errorf("kind %s, want unknown (err %v)", k, err)
		}
	})
	t.Run("reset after send, GET", func(t *testing.T) {
		_, err := http.Get(resetServer(t))
		if k := KindOf(Classify(nil, err)); k != Retryable {
			t.Errorf("kind %s, want retryable (err %v)", k, err)
		}
	})
	t.Run("cancelled while waiting for the answer, POST", func(t *testing.T) {
		arrived := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Read the whole body first: only then does net/http watch the
			// connection and cancel r.Context() when the client goes away.
			_, _ = io.Copy(io.Discard, r.Body)
			close(arrived)
			<-r.Context().Done()
		}))
		defer srv.Close()
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("x"))
		_, err := http.DefaultClient.Do(req)
		if k := KindOf(Classify(nil, err)); k != Unknown {
			t.Errorf("kind %s, want unknown (err %v)", k, err)
		}
	})
}

func TestErrorString(t *testing.T) {
	err := WithOp("rt create", Classify(response(http.MethodPost, 429, "Retry-After", "3"), errors.New("slow down")))
	want := "rt create: HTTP 429: slow down (retryable, retry after 3s)"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if RetryAfterOf(fmt.Errorf("dispatching: %w", err)) != 3*time.Second {
		t.Errorf("RetryAfterOf through a wrap failed")
	}
	if KindOf(errors.New("x")) != Unknown {
		t.Errorf("an unclassified error must count as unknown outcome")
	}
	if s := Permanentf("rt set status", "status %q refused", "bogus").Error(); s != `rt set status: status "bogus" refused (permanent)` {
		t.Errorf("Permanentf: %q", s)
	}
}

func TestMarker(t *testing.T) {
	body := WithMarker("Hello\n\n", "text/plain", "op-1")
	if body != "Hello\n\nabusegw-op: op-1" {
		t.Errorf("WithMarker = %q", body)
	}
	if WithMarker("x", "", "") != "x" {
		t.Errorf("no key must leave the body alone")
	}
	tests := []struct {
		text, key string
		want      bool
	}{
		{body, "op-1", true},
		{body + "\n", "op-1", true},
		{"x\r\nabusegw-op: op-1\r\n", "op-1", true},
		{WithMarker("<p>x</p>", "text/html", "op-1"), "op-1", true},
		{"abusegw-op: op-10", "op-1", false},
		{"abusegw-op: op-10\nabusegw-op: op-1", "op-1", true},
		{"nothing here", "op-1", false},
	}
	for _, tt := range tests {
		if got := HasMarker(tt.text, tt.key); got != tt.want {
			t.Errorf("HasMarker(%q, %q) = %v, want %v", tt.text, tt.key, got, tt.want)
		}
	}
}

func TestCommonValidate(t *testing.T) {
	c := Common{Name: "rt", Type: "rt"}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil || c.Timeout != DefaultTimeout || c.Concurrency != DefaultConcurrency {
		t.Fatalf("valid config: %v, %+v", err, c)
	}
	bad := Common{RateLimit: -1, Concurrency: -1, Timeout: -1, StatusMap: map[string]string{"x": "done"}}
	err := bad.Validate()
	for _, want := range []string{"missing name", "missing type", "rate_limit", "concurrency", "timeout", `"done" is not one of`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}
