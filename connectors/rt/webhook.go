package rt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/abusegw/abusegw/connectors"
)

// Webhook headers of the abusegw scrip in RT (deploy/rt/abusegw-webhook.pl).
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body
	// under the shared secret.
	SignatureHeader = "X-Abusegw-Signature"
	// DeliveryHeader carries the RT transaction id: one status change, one
	// delivery, however often RT or a proxy repeats it. It is not signed:
	// ParseWebhook takes the delivery id from the body's "transaction" and
	// uses the header only for a body without one.
	DeliveryHeader = "X-Abusegw-Delivery"
)

// maxWebhookBody bounds a webhook body; the scrip sends about 200 bytes.
const maxWebhookBody = 64 << 10

// webhookBody is what the scrip posts.
type webhookBody struct {
	Ticket      json.Number `json:"ticket"`
	Status      string      `json:"status"`
	OldStatus   string      `json:"old_status"`
	Transaction json.Number `json:"transaction"`
	Time        string      `json:"time"` // the transaction's time, UTC
	Queue       string      `json:"queue"`
	Actor       string      `json:"actor"`
	CaseKey     string      `json:"case_key"`
}

// ParseWebhook verifies the scrip's HMAC-SHA256 signature over the raw body
// in constant time and returns the status change it reports. A request that
// is not signed with the configured secret wraps connectors.ErrUnauthenticated.
func (c *Client) ParseWebhook(r *http.Request) ([]connectors.Update, error) {
	const op = "rt webhook"
	if c.hookKey == "" {
		return nil, fmt.Errorf("%s: no webhook_secret configured for connector %q: %w", op, c.cfg.Name, connectors.ErrUnauthenticated)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading body: %w", op, err)
	}
	if len(body) > maxWebhookBody {
		// An *http.MaxBytesError, so that the receiver answers 413 as it
		// does for its own limit.
		return nil, fmt.Errorf("%s: %w", op, &http.MaxBytesError{Limit: maxWebhookBody})
	}
	sig, ok := strings.CutPrefix(r.Header.Get(SignatureHeader), "sha256=")
	if !ok {
		return nil, fmt.Errorf("%s: missing %s header: %w", op, SignatureHeader, connectors.ErrUnauthenticated)
	}
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return nil, fmt.Errorf("%s: malformed signature: %w", op, connectors.ErrUnauthenticated)
	}
	mac := hmac.New(sha256.New, []byte(c.hookKey.Reveal()))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return nil, fmt.Errorf("%s: signature does not match: %w", op, connectors.ErrUnauthenticated)
	}

	var b webhookBody
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%s: body is not the scrip's JSON: %w", op, err)
	}
	ticket := b.Ticket.String()
	if _, err := strconv.ParseUint(ticket, 10, 64); err != nil || ticket == "0" {
		return nil, fmt.Errorf("%s: ticket %q is not an RT ticket id", op, ticket)
	}
	if b.Status == "" {
		return nil, fmt.Errorf("%s: no status in the body", op)
	}
	canonical, _ := c.statuses.Canonical(b.Status) // "" for a status the map lacks
	u := connectors.Update{
		TicketID:   ticket,
		CaseKey:    b.CaseKey,
		Status:     b.Status,
		Canonical:  canonical,
		DeliveryID: b.Transaction.String(),
	}
	if u.DeliveryID == "" {
		// The transaction id in the signed body is the delivery id: the
		// header is not signed, so a replay with a new header would
		// otherwise pass as a new delivery. The header counts only for a
		// body without one.
		u.DeliveryID = r.Header.Get(DeliveryHeader)
	}
	if b.Time != "" {
		t, err := time.Parse(time.RFC3339, b.Time)
		if err != nil {
			// RT's own format, "2006-01-02 15:04:05" in UTC.
			t, err = time.ParseInLocation(time.DateTime, b.Time, time.UTC)
		}
		if err == nil {
			u.At = t.UTC()
		}
	}
	return []connectors.Update{u}, nil
}
