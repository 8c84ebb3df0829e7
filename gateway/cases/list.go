package cases

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/abusegw/abusegw/gateway/store"
)

// Listed is one case as `abusegw cases` shows it.
type Listed struct {
	ID             int64     `json:"id" db:"id"`
	Key            string    `json:"key" db:"case_key"`
	Reference      string    `json:"reference" db:"reference"`
	Customer       string    `json:"customer" db:"customer"`
	CustomerName   string    `json:"customer_name" db:"customer_name"`
	Classification string    `json:"classification" db:"classification_identifier"`
	Type           string    `json:"classification_type" db:"classification_type"`
	State          string    `json:"state" db:"state"`
	Status         string    `json:"status" db:"status"`
	IPs            int       `json:"ips" db:"ips_count"`
	Events         int       `json:"events" db:"events_count"`
	FirstSeen      time.Time `json:"first_seen" db:"first_seen"`
	LastSeen       time.Time `json:"last_seen" db:"last_seen"`
	Connector      string    `json:"connector" db:"connector"`
	Ticket         string    `json:"ticket,omitempty" db:"ticket"`
	TicketURL      string    `json:"ticket_url,omitempty" db:"ticket_url"`
	ReopenCount    int       `json:"reopen_count" db:"reopen_count"`
	ClosureReason  string    `json:"closure_reason,omitempty" db:"closure_reason"`
}

// Filter selects cases to list.
type Filter struct {
	// State is open (open and pending), closed (resolved and closed), all,
	// or one state by name. "" means open.
	State    string
	Customer string // customer key
	Limit    int    // 0: no limit
}

// List returns the cases that match f, most recently seen first.
func List(ctx context.Context, db *store.DB, f Filter) ([]Listed, error) {
	var where []string
	var args []any
	switch f.State {
	case "", "open":
		where = append(where, "c.state IN ('open', 'pending')")
	case "closed":
		where = append(where, "c.state IN ('resolved', 'closed')")
	case "all":
	case StatePending, StateResolved:
		where = append(where, "c.state = ?")
		args = append(args, f.State)
	default:
		return nil, fmt.Errorf("unknown state %q (want open, closed, all, pending or resolved)", f.State)
	}
	if f.Customer != "" {
		where = append(where, "u.key = ?")
		args = append(args, f.Customer)
	}
	q := `SELECT c.id, c.case_key, c.reference, COALESCE(u.key, '') AS customer, COALESCE(u.name, '') AS customer_name,
		c.classification_identifier, c.classification_type, c.state, c.status, c.ips_count, c.events_count,
		c.first_seen, c.last_seen, c.connector, c.reopen_count, c.closure_reason,
		COALESCE((SELECT t.external_id FROM tickets t WHERE t.case_id = c.id ORDER BY t.id DESC LIMIT 1), '') AS ticket,
		COALESCE((SELECT t.url FROM tickets t WHERE t.case_id = c.id ORDER BY t.id DESC LIMIT 1), '') AS ticket_url
		FROM cases c LEFT JOIN customers u ON u.id = c.customer_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY c.last_seen DESC, c.id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	var out []Listed
	if err := db.SelectContext(ctx, &out, db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("listing cases: %w", err)
	}
	for i := range out {
		out[i].FirstSeen, out[i].LastSeen = out[i].FirstSeen.UTC(), out[i].LastSeen.UTC()
	}
	return out, nil
}

// IPs returns the addresses of a case, most events first.
func IPs(ctx context.Context, db *store.DB, caseID int64, limit int) ([]string, error) {
	var ips []string
	if err := db.SelectContext(ctx, &ips, db.Rebind(`SELECT ip FROM case_ips WHERE case_id = ? ORDER BY events DESC, ip LIMIT ?`), caseID, limit); err != nil {
		return nil, fmt.Errorf("listing addresses of case %d: %w", caseID, err)
	}
	return ips, nil
}
