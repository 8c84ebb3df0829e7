// Package connectors defines the contract between abusegw and a helpdesk
// (Request Tracker, Znuny, Zammad, Jira, Freshdesk, GitLab issues).
//
// Every helpdesk package implements the small [Connector] interface. Abilities
// that only some helpdesks have are separate optional interfaces, found by a
// type assertion the way database/sql finds driver.Pinger:
//
//   - [CommentFinder]: tells whether a comment or reply carrying an operation
//     marker has landed, so a comment whose outcome is unknown is not repeated.
//   - [WebhookParser]: verifies and parses an incoming webhook request.
//   - [ClosureReasoner]: the helpdesk records why a ticket was closed, and Get
//     fills [Ticket.ClosureReason].
//   - [Checker]: verifies credentials and setup for `abusegw check`.
//
// Connectors never retry: every error they return is an [*Error] (or wraps
// one) classified by [Classify] as Retryable, Permanent or Unknown, and the
// outbox alone decides what to do about it.
//
// The contract is tested by package connectors/conntest, which every
// connector's tests run against its helpdesk, real or fake.
package connectors

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// Status is one of abusegw's canonical ticket statuses. Helpdesk statuses are
// mapped onto these by the tables in mappings/status (many of theirs to one of
// ours).
type Status string

// The canonical statuses.
const (
	StatusNew      Status = "new"      // created, nobody has acted yet
	StatusOpen     Status = "open"     // being worked on
	StatusPending  Status = "pending"  // waiting (for the customer, a date, …)
	StatusResolved Status = "resolved" // done: the problem was handled
	StatusClosed   Status = "closed"   // done without a fix: rejected, deleted, merged away, won't fix
)

// Statuses lists the canonical statuses in lifecycle order.
func Statuses() []Status {
	return []Status{StatusNew, StatusOpen, StatusPending, StatusResolved, StatusClosed}
}

// Valid reports whether s is one of the canonical statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusNew, StatusOpen, StatusPending, StatusResolved, StatusClosed:
		return true
	}
	return false
}

// Done reports whether s ends the ticket's active life (resolved or closed);
// a case whose ticket is done is reopened or replaced when seen again.
func (s Status) Done() bool { return s == StatusResolved || s == StatusClosed }

// Connector is what every helpdesk implements. All methods take a context
// that bounds the call, and return errors that are (or wrap) an [*Error].
//
// Ticket IDs are strings because helpdesks disagree (RT numbers, Jira keys
// such as "OPS-24", GitLab project-local iids).
type Connector interface {
	// Create opens a ticket and stores req.CaseKey in it (custom field,
	// dynamic field, label, description marker), so that FindByKey finds it
	// again after a crash. The returned Ticket has at least ID, URL and
	// CaseKey. Create is never retried blindly: after an Unknown error the
	// caller must FindByKey first.
	Create(ctx context.Context, req CreateRequest) (Ticket, error)

	// Comment adds an internal note that the requester does not see.
	Comment(ctx context.Context, ticketID string, msg Message) error

	// Reply adds a message that goes to the requester(s).
	Reply(ctx context.Context, ticketID string, msg Message) error

	// SetStatus moves the ticket to the helpdesk status that the status map
	// names for s. The gateway uses it only to reopen (StatusOpen). A
	// transition the helpdesk refuses is a Permanent error.
	SetStatus(ctx context.Context, ticketID string, s Status) error

	// Get reads a ticket. A ticket that does not exist is a Permanent error
	// wrapping ErrNotFound.
	Get(ctx context.Context, ticketID string) (Ticket, error)

	// ListUpdated returns one page of the tickets carrying a case key that
	// changed at or after since, oldest change first. Pass "" as the cursor
	// for the first page and Page.Next for the following ones, always with
	// the same since; Page.Next is "" on the last page. Helpdesks round since
	// down (RT: to the second, Jira: to the minute), so pages may repeat
	// tickets that changed shortly before since: callers must be idempotent.
	ListUpdated(ctx context.Context, since time.Time, cursor Cursor) (Page, error)

	// FindByKey returns the tickets that carry caseKey, oldest first; none is
	// an empty slice and no error. More than one means a duplicate was made
	// (no helpdesk enforces uniqueness); the caller keeps the first.
	FindByKey(ctx context.Context, caseKey string) ([]Ticket, error)
}

// CreateRequest is what a new ticket is made of.
type CreateRequest struct {
	// CaseKey identifies the case; it is stored in the ticket so the ticket
	// can be found again (required).
	CaseKey string
	// Queue overrides the connector's configured queue (RT/Znuny queue,
	// Zammad group, Jira project, Freshdesk group, GitLab project); empty
	// means the configured one.
	Queue string
	// Requestors are the customer's contact addresses; the helpdesk writes to
	// them on Reply.
	Requestors []string
	// Subject is the ticket's title (required).
	Subject string
	// Body is the first message of the ticket.
	Body string
	// ContentType of Body: "text/plain" (default) or "text/html".
	ContentType string
	// RefersTo lists IDs of earlier tickets of the same case (a case seen
	// again after its grace period). Connectors link them where the helpdesk
	// can and mention them in the body otherwise.
	RefersTo []string
}

// Message is a comment or a reply.
type Message struct {
	// Subject is optional; most helpdesks keep the ticket's.
	Subject string
	// Body is the text (required).
	Body string
	// ContentType of Body: "text/plain" (default) or "text/html".
	ContentType string
	// OpKey is the outbox operation's idempotency key. When set, the
	// connector appends a marker line (see [Marker]) so that a CommentFinder
	// can tell later whether this message landed.
	OpKey string
}

// Ticket is a helpdesk ticket as abusegw sees it.
type Ticket struct {
	// ID is the helpdesk's identifier used in every other call. After a
	// merge some helpdesks answer for the surviving ticket; ID is then the
	// surviving one.
	ID string
	// URL is the page a desk member opens in a browser.
	URL string
	// Status is the helpdesk's own status name, unchanged.
	Status string
	// Canonical is Status mapped through the status map; empty when the map
	// has no entry for Status (a customised lifecycle: extend status_map).
	Canonical Status
	// ClosureReason is why the ticket was closed, where the helpdesk records
	// one (see ClosureReasoner); empty otherwise.
	ClosureReason string
	// Created and Updated are the helpdesk's times, in UTC; zero if unknown.
	Created time.Time
	Updated time.Time
	// CaseKey is the case key stored in the ticket; empty if it has none.
	CaseKey string
}

// Cursor is an opaque position in a ListUpdated walk.
type Cursor string

// Page is one page of ListUpdated.
type Page struct {
	Tickets []Ticket
	// Next is the cursor of the following page; "" when this is the last.
	Next Cursor
}

// CommentFinder is implemented by connectors that can tell whether a
// comment or reply with a given operation key is in the ticket. The outbox
// calls it after an Unknown outcome of Comment or Reply, before retrying.
// Connectors that do not implement it leave the outbox to choose between a
// possible duplicate comment and a dead letter.
type CommentFinder interface {
	// FindOp reports whether a message whose Message.OpKey was opKey is
	// recorded in the ticket.
	FindOp(ctx context.Context, ticketID, opKey string) (bool, error)
}

// Update is one ticket change reported by a webhook.
type Update struct {
	TicketID string
	// CaseKey, when the payload carries it.
	CaseKey string
	// Status is the helpdesk's status; Canonical is it mapped.
	Status    string
	Canonical Status
	// ClosureReason, when the payload carries it.
	ClosureReason string
	// At is when the change happened per the helpdesk (for ordering
	// out-of-order deliveries); zero if the payload has no time.
	At time.Time
	// DeliveryID identifies the delivery for deduplication (X-Zammad-Delivery,
	// X-Atlassian-Webhook-Identifier, Idempotency-Key, an RT transaction id).
	DeliveryID string
}

// WebhookParser is implemented by connectors whose helpdesk can call abusegw
// back. ParseWebhook must verify the request's authenticity (HMAC signature,
// token header, shared secret) on the raw body before decoding it, and
// return an error wrapping ErrUnauthenticated for a forgery, so the receiver
// answers 401 and changes nothing. It reads r.Body; the caller limits its size.
type WebhookParser interface {
	ParseWebhook(r *http.Request) ([]Update, error)
}

// ClosureReasoner is implemented by connectors configured to read a closure
// reason (an RT custom field, a Jira resolution, …); Get fills
// Ticket.ClosureReason. ClosureReasons lists the values the helpdesk allows,
// or nil when the field is free-form.
type ClosureReasoner interface {
	ClosureReasons(ctx context.Context) ([]string, error)
}

// Checker is implemented by connectors that can verify their setup for
// `abusegw check`: credentials, queue, custom fields and the rights they
// need. Each problem is one error that says what is wrong and how to fix it;
// none means all is well.
type Checker interface {
	Check(ctx context.Context) []error
}

// markerPrefix starts the line that carries an operation key in a message.
const markerPrefix = "abusegw-op: "

// Marker returns the line that identifies the outbox operation opKey inside
// a comment or reply. Connectors append it to the body (after a blank line)
// and search for it in CommentFinder.
func Marker(opKey string) string { return markerPrefix + opKey }

// WithMarker returns body with the marker of opKey appended, or body
// unchanged when opKey is empty.
func WithMarker(body, contentType, opKey string) string {
	if opKey == "" {
		return body
	}
	if strings.HasPrefix(contentType, "text/html") {
		return body + "\n<p>" + Marker(opKey) + "</p>"
	}
	return strings.TrimRight(body, "\n") + "\n\n" + Marker(opKey)
}

// HasMarker reports whether text contains the marker of opKey as a whole
// line (possibly wrapped in simple HTML). It does not match a longer key that
// starts with opKey.
func HasMarker(text, opKey string) bool {
	m := Marker(opKey)
	for rest := text; ; {
		i := strings.Index(rest, m)
		if i < 0 {
			return false
		}
		after := rest[i+len(m):]
		if after == "" || after[0] == '\n' || after[0] == '\r' || after[0] == '<' {
			return true
		}
		rest = after
	}
}
