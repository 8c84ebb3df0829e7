package rt

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/abusegw/abusegw/connectors"
)

// ErrNoReasonField is returned by ClosureReasons when reason_field is not
// configured.
var ErrNoReasonField = errors.New("no reason_field configured")

// ticketCFLookup is the LookupType of custom fields that apply to tickets.
const ticketCFLookup = "RT::Queue-RT::Ticket"

// rtQueue is the part of GET /queue/Name that Check needs.
type rtQueue struct {
	ID                 rtID `json:"id"`
	Name               string
	Lifecycle          string
	Disabled           string
	TicketCustomFields []struct {
		ID   rtID   `json:"id"`
		Name string `json:"name"`
	}
}

// rtCustomField is GET /customfield/N.
type rtCustomField struct {
	ID         rtID     `json:"id"`
	Name       string   `json:"Name"`
	Type       string   `json:"Type"`
	LookupType string   `json:"LookupType"`
	Disabled   string   `json:"Disabled"`
	Values     []string `json:"Values"`
}

// Check verifies what the connector relies on and RT would not tell on its
// own: that the credentials work, that the queue exists, and that the key
// custom field (and the reason field, if configured) exists, is enabled and
// applies to the queue — RT drops an unknown custom field on create without
// an error, which would make every ticket unfindable by its case key.
func (c *Client) Check(ctx context.Context) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("rt connector %q: "+format, append([]any{c.cfg.Name}, args...)...))
	}
	var version struct{ Version string }
	if err := c.do(ctx, request{op: "rt check", method: http.MethodGet, path: "/rt", out: &version}); err != nil {
		switch {
		case errors.Is(err, connectors.ErrUnauthenticated):
			fail("RT at %s refused the credentials (%v): check the token (token_env, token_file) or user and password", c.cfg.URL, err)
		default:
			fail("cannot reach RT's REST2 API at %s/: %w", c.api, err)
		}
		return errs // nothing else can be checked
	}
	c.log.DebugContext(ctx, "rt reachable", "version", version.Version)

	var q rtQueue
	if err := c.do(ctx, request{op: "rt check", method: http.MethodGet, path: "/queue/" + url.PathEscape(c.cfg.Queue), out: &q}); err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && (ce.StatusCode == http.StatusNotFound || ce.StatusCode == http.StatusForbidden) {
			fail("queue %q does not exist or the RT user may not see it (%v): create it (Admin → Queues) or fix queue", c.cfg.Queue, err)
		} else {
			fail("reading queue %q: %w", c.cfg.Queue, err)
		}
		return errs
	}
	if q.Disabled == "1" {
		fail("queue %q is disabled", c.cfg.Queue)
	}
	if q.Lifecycle != "" && q.Lifecycle != "default" && len(c.cfg.StatusMap) == 0 {
		c.log.WarnContext(ctx, "queue has a custom lifecycle; map its statuses with status_map", "queue", c.cfg.Queue, "lifecycle", q.Lifecycle)
	}
	applied := map[string]bool{}
	for _, cf := range q.TicketCustomFields {
		applied[string(cf.ID)] = true
	}
	const keyWhy = "; otherwise RT silently drops the case key on create and duplicates cannot be found"
	const reasonWhy = "; otherwise closure reasons cannot be read"
	fields := []struct{ key, name, why string }{{"key_field", c.cfg.KeyField, keyWhy}}
	if c.cfg.ReasonField != "" {
		fields = append(fields, struct{ key, name, why string }{"reason_field", c.cfg.ReasonField, reasonWhy})
	}
	for _, f := range fields {
		cf, err := c.findCF(ctx, f.name)
		switch {
		case err != nil:
			fail("looking up ticket custom field %q (%s): %w", f.name, f.key, err)
		case cf == nil:
			fail("ticket custom field %q (%s) does not exist: create it (Admin → Custom Fields → Create, applies to Tickets, Enter one value) and apply it to queue %q%s",
				f.name, f.key, c.cfg.Queue, f.why)
		case cf.Disabled == "1":
			fail("ticket custom field %q (%s) is disabled: enable it", f.name, f.key)
		case !applied[string(cf.ID)]:
			fail("ticket custom field %q (%s) exists but does not apply to queue %q: apply it (Admin → Custom Fields → %s → Applies to)%s",
				f.name, f.key, c.cfg.Queue, f.name, f.why)
		}
	}
	return errs
}

// findCF returns the ticket custom field called name, disabled or not, or
// nil when there is none.
func (c *Client) findCF(ctx context.Context, name string) (*rtCustomField, error) {
	filter := []map[string]string{
		{"field": "Name", "value": name},
		{"field": "LookupType", "value": ticketCFLookup},
	}
	q := url.Values{"find_disabled_rows": {"1"}, "per_page": {"100"}}
	var ans searchAnswer[struct {
		ID rtID `json:"id"`
	}]
	if err := c.do(ctx, request{op: "rt find custom field", method: http.MethodPost, path: "/customfields", query: q, body: filter, out: &ans}); err != nil {
		return nil, err
	}
	var found *rtCustomField
	for _, it := range ans.Items {
		var cf rtCustomField
		if err := c.do(ctx, request{op: "rt read custom field", method: http.MethodGet, path: "/customfield/" + string(it.ID), out: &cf}); err != nil {
			return nil, err
		}
		if !strings.EqualFold(cf.Name, name) {
			continue
		}
		if found == nil || (found.Disabled == "1" && cf.Disabled != "1") {
			found = &cf // prefer an enabled one when names repeat
		}
	}
	return found, nil
}

// ClosureReasons lists the values the reason custom field allows, or nil
// when it takes free text. It returns ErrNoReasonField when reason_field is
// not configured.
func (c *Client) ClosureReasons(ctx context.Context) ([]string, error) {
	if c.cfg.ReasonField == "" {
		return nil, ErrNoReasonField
	}
	cf, err := c.findCF(ctx, c.cfg.ReasonField)
	if err != nil {
		return nil, fmt.Errorf("reading closure reasons from custom field %q: %w", c.cfg.ReasonField, err)
	}
	if cf == nil {
		return nil, connectors.Permanentf("rt closure reasons", "custom field %q does not exist", c.cfg.ReasonField)
	}
	if !strings.HasPrefix(cf.Type, "Select") && !strings.HasPrefix(cf.Type, "Combobox") && !strings.HasPrefix(cf.Type, "Autocomplete") {
		return nil, nil
	}
	return cf.Values, nil
}
