package shadowserverapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/abusegw/abusegw/gateway/secret"
)

// Client calls Shadowserver's API: every call is a POST of a JSON object
// that carries "apikey", signed by an HMAC2 header, the hex HMAC-SHA256 of
// the request body with the secret.
type Client struct {
	base    string // ends with "/"
	key     secret.Ref
	secret  secret.Ref
	http    *http.Client
	retries int
	// sleep waits between attempts; tests record instead of waiting.
	sleep func(ctx context.Context, d time.Duration) error
}

// Report is one entry of reports/list.
type Report struct {
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"` // the report's date, YYYY-MM-DD
	Report    string `json:"report"`    // the mailing list it belongs to
	Type      string `json:"type"`      // the report type: scan_ntp, …
	File      string `json:"file"`      // 2026-03-02-scan_ntp-example-asn.csv
	URL       string `json:"url"`
}

// APIError is an answer other than success.
type APIError struct {
	Method  string
	Status  int    // HTTP status
	Message string // the "error" of a JSON error body, or the body's start
}

func (e *APIError) Error() string {
	return fmt.Sprintf("shadowserver api %s: HTTP %d: %s", e.Method, e.Status, e.Message)
}

// Retryable reports whether trying again may help: rate limits and server
// errors.
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// sign returns the HMAC2 header of a request body.
func sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// call posts one request and returns the successful response, whose body
// the caller closes. Network errors, 429 and 5xx are retried with
// exponential backoff (1s, 2s, 4s, … at most a minute, or the server's
// Retry-After), at most c.retries times.
func (c *Client) call(ctx context.Context, method string, req map[string]any) (*http.Response, error) {
	fields := make(map[string]any, len(req)+1)
	for k, v := range req {
		fields[k] = v
	}
	key, err := c.key.Resolve()
	if err != nil {
		return nil, fmt.Errorf("shadowserver api key: %w", err)
	}
	sec, err := c.secret.Resolve()
	if err != nil {
		return nil, fmt.Errorf("shadowserver api secret: %w", err)
	}
	fields["apikey"] = key
	body, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("shadowserver api %s: encoding request: %w", method, err)
	}
	mac := sign([]byte(sec), body)
	backoff := time.Second
	for attempt := 0; ; attempt++ {
		resp, wait, err := c.try(ctx, method, body, mac)
		if err == nil {
			return resp, nil
		}
		var ae *APIError
		retry := ctx.Err() == nil && (!errors.As(err, &ae) || ae.Retryable())
		if !retry || attempt >= c.retries {
			if attempt > 0 {
				return nil, fmt.Errorf("after %d attempts: %w", attempt+1, err)
			}
			return nil, err
		}
		if wait <= 0 {
			wait = backoff
		}
		backoff = min(backoff*2, time.Minute)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// try is one attempt; wait is the server's Retry-After, if any.
func (c *Client) try(ctx context.Context, method string, body []byte, mac string) (*http.Response, time.Duration, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+method, bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("shadowserver api %s: %w", method, err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("HMAC2", mac)
	resp, err := c.http.Do(r)
	if err != nil {
		return nil, 0, fmt.Errorf("shadowserver api %s: %w", method, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	ae := &APIError{Method: method, Status: resp.StatusCode, Message: errorMessage(b)}
	var wait time.Duration
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
		wait = min(time.Duration(s)*time.Second, 10*time.Minute)
	}
	return nil, wait, ae
}

// errorMessage extracts {"error": "..."} or returns the body's start.
func errorMessage(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// List returns one page of the reports of the dates from..to (inclusive,
// YYYY-MM-DD). lists narrows to mailing lists; page counts from 1.
func (c *Client) List(ctx context.Context, from, to string, lists []string, limit, page int) ([]Report, error) {
	req := map[string]any{"date": from + ":" + to, "limit": limit, "page": page}
	if len(lists) > 0 {
		req["reports"] = lists
	}
	resp, err := c.call(ctx, "reports/list", req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("shadowserver api reports/list: reading: %w", err)
	}
	var out []Report
	if err := json.Unmarshal(b, &out); err != nil {
		// The API answers some errors with 200 and {"error": "..."}.
		if msg := errorMessage(b); msg != "" && bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
			return nil, &APIError{Method: "reports/list", Status: resp.StatusCode, Message: msg}
		}
		return nil, fmt.Errorf("shadowserver api reports/list: decoding the answer: %w", err)
	}
	return out, nil
}

// Download returns the body of one report, which the caller closes.
func (c *Client) Download(ctx context.Context, id string) (io.ReadCloser, error) {
	resp, err := c.call(ctx, "reports/download", map[string]any{"id": id})
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		// A report is CSV; JSON here is an error such as {"error": "..."}.
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &APIError{Method: "reports/download", Status: resp.StatusCode, Message: errorMessage(b)}
	}
	return resp.Body, nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
