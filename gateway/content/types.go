// Package content renders the text of abuse tickets: the subject, the
// message to the customer and the internal summary for the desk, for a new
// case, an update of an open case and a reopened case.
//
// The words live in Go text/template files and the remediation advice in
// YAML, both embedded from mappings/templates and overridable, file by file,
// from a directory (see New). One set of templates and one advice file exist
// per language; Customer.Language picks the set ("de", "de-DE" and "de_AT"
// all pick "de") and English is the fallback.
//
// # Template data
//
// Every template is executed with a *Data: the Case's fields are promoted
// (.Reference, .Customer.Name, .IPs, .New, …) and Data adds the chosen
// Advice, the address lists capped at Options.MaxIPs (.Shown, .NewShown),
// the malware names found in the samples (.Malware) and, for internal.tmpl,
// the rendered customer text (.CustomerText).
//
// # Template functions
//
//	iso TIME          2006-01-02T15:04:05Z in UTC, "" for the zero time
//	date TIME         2006-01-02 in UTC, "" for the zero time
//	ports []int       "53, 5353"
//	join []string SEP strings.Join
//	plural N ONE MANY ONE when N is 1, else MANY
//	fields MAP        the sorted, sanitised (key, value) pairs of a sample
//	add A B           A+B, for numbering
//
// Templates are executed with missingkey=error, and a reference to a field
// that does not exist is an error, so New executes every template against a
// fully populated and an almost empty Case before it returns.
//
// Output is plain text: runs of blank lines are collapsed, trailing space is
// trimmed and lines longer than 76 characters are wrapped at spaces, list
// items with a hanging indent. Subjects are one line.
package content

import "time"

// Kind says which message of a case's life is rendered.
type Kind string

// The kinds of message.
const (
	// KindCreate is the first message of a new case (a new ticket).
	KindCreate Kind = "create"
	// KindUpdate lists what is new on an open case since the last message.
	KindUpdate Kind = "update"
	// KindReopen reopens a closed ticket because the problem was seen again.
	KindReopen Kind = "reopen"
)

// Kinds lists every Kind.
func Kinds() []Kind { return []Kind{KindCreate, KindUpdate, KindReopen} }

// Case is what a message is about: one problem of one customer, as the case
// aggregator sees it.
type Case struct {
	// Key is the case key; Reference is the short human reference (such as
	// "ABUSE-42") carried in the subject.
	Key, Reference string
	Customer       Customer
	Classification Classification
	// Feeds are the feed.name values of the case's events.
	Feeds []string
	// FirstSeen and LastSeen span the case's events (UTC).
	FirstSeen, LastSeen time.Time
	// Events is the total number of events.
	Events int
	// IPs are the affected addresses, sorted.
	IPs []IP
	// New is what changed since the last message (update and reopen).
	New *Delta
	// Samples are representative events (IntelMQ field → value) shown as
	// evidence.
	Samples []map[string]any
	// PreviousTicket is the closed ticket a new case follows, if any.
	PreviousTicket *TicketRef
	// Notify is true when the customer gets the message; false keeps the
	// ticket internal (Message.Body is then empty).
	Notify bool
	// Desk is who writes and how to answer.
	Desk Desk
}

// Customer is who the case is about.
type Customer struct {
	Key, Name string
	Emails    []string
	// Language is a language tag ("de", "de-DE", "de_AT"); "" means English.
	Language string
}

// Classification is the IntelMQ classification of a case.
type Classification struct {
	Taxonomy, Type, Identifier string
}

// IP is one affected address of a case.
type IP struct {
	Addr string
	// Ports are the ports the address was seen on, sorted.
	Ports []int
	// FQDN is a host name of the address, if known.
	FQDN                string
	FirstSeen, LastSeen time.Time
	Events              int
}

// Delta is what is new on a case since the last message.
type Delta struct {
	// Since is the time of the last message (update) or of the closure
	// (reopen).
	Since time.Time
	// Events counts the events since then.
	Events int
	// IPs are the addresses seen since then, new ones and ones seen again.
	IPs []IP
	// NewIPs counts the addresses among IPs that the case had not seen.
	NewIPs int
}

// TicketRef points at a helpdesk ticket.
type TicketRef struct {
	Connector, ID, URL string
	Closed             time.Time
}

// Desk is the abuse desk that writes the messages.
type Desk struct {
	Name, Email, URL string
}

// Message is a rendered message.
type Message struct {
	// Subject is one line.
	Subject string
	// Body is the text for the customer; empty when Case.Notify is false.
	Body string
	// Internal is the summary for the desk (an internal comment).
	Internal string
}
