package connectors

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Kind says what a failed helpdesk call means for the operation.
type Kind int

const (
	// Unknown: the helpdesk may or may not have performed the call (a
	// timeout or reset after the request was sent, a gateway timeout, an
	// answer that could not be read). Before retrying a Create the caller
	// must FindByKey; before retrying a Comment or Reply it should ask a
	// CommentFinder. It is the zero value because it is the safe assumption
	// for an error nobody classified.
	Unknown Kind = iota
	// Retryable: the helpdesk cannot have performed the call (connection
	// refused, 5xx that reports failure, 429); trying again later may work.
	Retryable
	// Permanent: trying again cannot help (bad credentials, unknown queue,
	// a refused status transition, a missing ticket) until someone changes
	// the configuration or the helpdesk.
	Permanent
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	case Unknown:
		return "unknown outcome"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Sentinels that connectors wrap inside an *Error so callers can test with
// errors.Is.
var (
	// ErrNotFound: the ticket does not exist (or is not visible).
	ErrNotFound = errors.New("ticket not found")
	// ErrUnauthenticated: the helpdesk refused the credentials, or a webhook
	// failed verification.
	ErrUnauthenticated = errors.New("not authenticated")
)

// Error is a classified helpdesk failure. Every error a connector returns is,
// or wraps, one.
type Error struct {
	Kind Kind
	// RetryAfter is how long the helpdesk asked us to wait (Retry-After);
	// zero when it did not say.
	RetryAfter time.Duration
	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int
	// Op names the call, e.g. "rt create".
	Op string
	// Err is the underlying error or the helpdesk's message.
	Err error
}

// Error describes the failure, e.g.
// `rt create: HTTP 403: No permission to create tickets in the queue 'X' (permanent)`.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
		if e.Err != nil {
			b.WriteString(": ")
		}
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	fmt.Fprintf(&b, " (%s", e.Kind)
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	b.WriteString(")")
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the first *Error in err's chain, and Unknown for
// an error that carries none. It returns Unknown for nil too; check err first.
func KindOf(err error) Kind {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return Unknown
}

// RetryAfterOf returns the RetryAfter of the first *Error in err's chain.
func RetryAfterOf(err error) time.Duration {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.RetryAfter
	}
	return 0
}

// WithOp sets Op on the *Error in err's chain that has none, and returns err.
// Connectors call it on what Classify returned.
func WithOp(op string, err error) error {
	var ce *Error
	if errors.As(err, &ce) && ce.Op == "" {
		ce.Op = op
	}
	return err
}

// Permanentf returns a Permanent *Error for a failure the helpdesk reported
// inside a successful answer (RT's "isn't a valid status" in a 200 array).
func Permanentf(op, format string, args ...any) *Error {
	return &Error{Kind: Permanent, Op: op, Err: fmt.Errorf(format, args...)}
}

// notSentError marks a transport error that happened before any byte of the
// request reached the network.
type notSentError struct{ err error }

func (e notSentError) Error() string { return e.err.Error() }
func (e notSentError) Unwrap() error { return e.err }

// NotSent wraps a transport error that a connector knows happened before the
// request was written (it watched with net/http/httptrace), so Classify can
// call it Retryable whatever its shape.
func NotSent(err error) error {
	if err == nil {
		return nil
	}
	return notSentError{err}
}

// Classify is the one place that decides what a helpdesk call's failure
// means. Pass the response (nil if none arrived) and the error (the
// transport error when resp is nil; optionally a description of a failed
// response, such as the helpdesk's message, when resp is not nil). It
// returns nil for a 2xx response without error, and an *Error otherwise.
// Connectors do not read resp.Body here: they pass what they read as err.
//
// The rule is database/sql's ErrBadConn rule: Retryable only when the
// helpdesk cannot have performed the call.
//
//   - No response, and the request cannot have been sent (connection refused,
//     DNS failure, dial or TLS handshake error, NotSent): Retryable.
//   - No response after the request may have been sent (timeout, reset, EOF,
//     context cancelled): Unknown for methods with effects (POST, PUT, PATCH,
//     DELETE), Retryable for GET, HEAD and OPTIONS, which change nothing.
//   - 429 and 503: Retryable, with RetryAfter from Retry-After (seconds or an
//     HTTP date).
//   - 408, 409, 423, 425: Retryable (the request was not processed or met a
//     transient conflict).
//   - 500 and other 5xx: Retryable, except 502 and 504 on methods with
//     effects: a proxy timed out waiting for a helpdesk that may have
//     finished, so Unknown.
//   - 3xx (clients must not follow redirects; RT redirects to its login page
//     when it thinks the caller is a browser), 401, 403, 404 and other 4xx:
//     Permanent. 401 and 3xx wrap ErrUnauthenticated; 403 (rights, or RT's
//     unknown queue) and 404 wrap nothing (the connector knows whether the
//     path named a ticket and wraps ErrNotFound itself).
func Classify(resp *http.Response, err error) error {
	if resp == nil {
		if err == nil {
			return nil
		}
		return classifyTransport(err)
	}
	code := resp.StatusCode
	if code >= 200 && code < 300 && err == nil {
		return nil
	}
	e := &Error{StatusCode: code, Err: err}
	if e.Err == nil {
		e.Err = errors.New(http.StatusText(code))
	}
	safe := resp.Request == nil || safeMethod(resp.Request.Method)
	switch {
	case code >= 200 && code < 300:
		// A success that the connector could not use (unreadable body):
		// the call was performed, so repeating it is not harmless.
		e.Kind = Unknown
		if safe {
			e.Kind = Retryable
		}
	case code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable:
		e.Kind = Retryable
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), resp.Header.Get("Date"))
	case code == http.StatusRequestTimeout, code == http.StatusConflict,
		code == http.StatusLocked, code == http.StatusTooEarly:
		e.Kind = Retryable
	case code == http.StatusBadGateway, code == http.StatusGatewayTimeout:
		e.Kind = Unknown
		if safe {
			e.Kind = Retryable
		}
	case code >= 500:
		e.Kind = Retryable
	case code == http.StatusUnauthorized:
		e.Kind = Permanent
		e.Err = fmt.Errorf("%w: %w", ErrUnauthenticated, e.Err)
	case code >= 300 && code < 400:
		e.Kind = Permanent
		e.Err = fmt.Errorf("%w: redirected to %q (a login page?): %w",
			ErrUnauthenticated, resp.Header.Get("Location"), e.Err)
	default:
		e.Kind = Permanent
	}
	return e
}

// classifyTransport classifies an error from http.Client.Do.
func classifyTransport(err error) error {
	e := &Error{Err: err}
	var ns notSentError
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	switch {
	case errors.As(err, &ns),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &dnsErr),
		errors.As(err, &opErr) && opErr.Op == "dial",
		errors.As(err, &certErr),
		errors.As(err, &recErr):
		// Nothing reached the helpdesk's application.
		e.Kind = Retryable
	default:
		e.Kind = Unknown
		var ue *url.Error
		if errors.As(err, &ue) && safeMethod(strings.ToUpper(ue.Op)) {
			e.Kind = Retryable
		}
	}
	return e
}

// safeMethod reports whether an HTTP method changes nothing on the server.
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// A date is taken relative to the response's Date header, so that a skewed
// local clock does not matter; only without a Date header is the local clock
// used. A date in the past or garbage yields 0.
func parseRetryAfter(v, date string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		const maxSeconds = int64(365 * 24 * 3600) // keep the Duration from overflowing
		return time.Duration(min(n, maxSeconds)) * time.Second
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	now, err := http.ParseTime(date)
	if err != nil {
		now = time.Now()
	}
	if d := at.Sub(now); d > 0 {
		return d
	}
	return 0
}

// IsContextError reports whether err is the caller's own cancellation or
// deadline, as opposed to the helpdesk's failure.
func IsContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
