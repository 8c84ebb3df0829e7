// Package arf reads ARF feedback reports (RFC 5965, "abuse feedback loop"
// mails) into normalizer Events: one event per message/feedback-report part,
// with the spamming IP as source.ip.
//
// Real reports bend the RFC, and the reader bends with them: Version "0.1",
// "1" or "1.0"; Received-Date instead of Arrival-Date; field names in any
// case; CRLF or LF; folded lines; "Source-IP: [192.0.2.1]"; no Source-IP at
// all (then the first external Received hop of the original message is
// used, as a person reading the headers would); a leading mbox "From " line
// or a ">From " line in the original.
package arf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/abusegw/abusegw/normalizer"
	"github.com/abusegw/abusegw/normalizer/internal/mimewalk"
)

// MaxMessageSize is the most ParseMessage reads of a mail.
const MaxMessageSize = 32 << 20

// maxFeedbackBytes is the most of a feedback-report or original header part
// that is read.
const maxFeedbackBytes = 256 << 10

// ErrNoSource is returned for a report that names no source IP, neither in
// Source-IP nor in the original message's Received headers.
var ErrNoSource = errors.New("feedback report names no source IP")

// ErrTooLarge is returned for a mail beyond MaxMessageSize.
var ErrTooLarge = errors.New("ARF mail too large")

// feedbackClasses maps Feedback-Type (RFC 5965 section 7.3, RFC 6591) to
// IntelMQ classification.type.
var feedbackClasses = map[string]string{
	"abuse":        "spam",
	"fraud":        "phishing",
	"virus":        "malware-distribution",
	"other":        "other",
	"not-spam":     "other",
	"auth-failure": "masquerade",
	"dmarc":        "masquerade",
}

// IsFeedbackReport reports whether a Content-Type value is an ARF report:
// the whole mail ("multipart/report; report-type=feedback-report") or its
// "message/feedback-report" part. Parameters are matched case-insensitively
// and a malformed parameter list does not hide them.
func IsFeedbackReport(contentType string) bool {
	mt, params := contentType2(contentType)
	switch mt {
	case "message/feedback-report":
		return true
	case "multipart/report":
		return strings.EqualFold(strings.TrimSpace(params["report-type"]), "feedback-report")
	}
	return false
}

func contentType2(v string) (string, map[string]string) {
	mt, params := mimewalk.ContentType(v)
	lower := make(map[string]string, len(params))
	for k, p := range params {
		lower[strings.ToLower(k)] = p
	}
	return mt, lower
}

var feedbackLine = regexp.MustCompile(`(?mi)^feedback-type[ \t]*:`)

// looksLikeFeedback reports whether a part's body is feedback-report fields
// even though it is not labelled message/feedback-report.
func looksLikeFeedback(body []byte) bool {
	if len(body) > 8<<10 {
		body = body[:8<<10]
	}
	return feedbackLine.Match(body)
}

// ParseMessage reads a whole ARF mail (an .eml, optionally with a leading
// mbox "From " line) and returns one event per feedback-report part; most
// mails have exactly one. name is the file name for RawRef and errors.
// feed.provider is the domain of the mail's From address. A mail without a
// feedback report returns normalizer.ErrUnrecognized; a report that yields no
// event is a *normalizer.RowError naming its MIME part.
func ParseMessage(r io.Reader, name string) ([]normalizer.Event, error) {
	lr := &io.LimitedReader{R: r, N: MaxMessageSize + 1}
	var parts []*mimewalk.Part
	top, err := mimewalk.Walk(lr, func(p *mimewalk.Part) { parts = append(parts, p) })
	if err != nil {
		return nil, fmt.Errorf("reading ARF mail %s: %w", name, err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("reading ARF mail %s: %w (limit %d bytes)", name, ErrTooLarge, MaxMessageSize)
	}
	isReport := IsFeedbackReport(top.Get("Content-Type"))
	var reports []int
	for i, p := range parts {
		if p.MediaType == "message/feedback-report" {
			reports = append(reports, i)
		}
	}
	if len(reports) == 0 && isReport {
		// Mislabelled: a text part that holds the fields.
		for i, p := range parts {
			if !isOriginal(p.MediaType) && looksLikeFeedback(p.Body) {
				reports = append(reports, i)
				break
			}
		}
	}
	if len(reports) == 0 {
		return nil, fmt.Errorf("%s: no feedback report: %w", name, normalizer.ErrUnrecognized)
	}
	provider := domainOf(top.Get("From"))
	var events []normalizer.Event
	var errs []error
	for n, ri := range reports {
		// The original is the first message/rfc822 (or headers) part after
		// this report and before the next one.
		end := len(parts)
		if n+1 < len(reports) {
			end = reports[n+1]
		}
		var original io.Reader
		for _, p := range parts[ri+1 : end] {
			if isOriginal(p.MediaType) {
				original = bytes.NewReader(p.Body)
				break
			}
		}
		ev, err := ParseFeedbackPart(bytes.NewReader(parts[ri].Body), original)
		if err != nil {
			re := &normalizer.RowError{File: name, Part: parts[ri].Path, Err: err}
			var fe *normalizer.FieldError
			if errors.As(err, &fe) {
				re.Field = fe.Field
			}
			errs = append(errs, re)
			continue
		}
		if provider != "" {
			ev.Fields["feed.provider"] = provider
			if _, ok := ev.Fields["extra.user_agent"]; !ok {
				ev.Fields["feed.name"] = provider
			}
		}
		if s := mimewalk.DecodeWords(top.Get("Subject")); s != "" {
			ev.Fields["extra.report_subject"] = s
		}
		ev.Raw = normalizer.RawRef{File: name, Part: parts[ri].Path}
		events = append(events, ev)
	}
	return events, errors.Join(errs...)
}

func isOriginal(mt string) bool {
	switch mt {
	case "message/rfc822", "text/rfc822-headers", "message/rfc822-headers", "message/global", "message/global-headers":
		return true
	}
	return false
}

// fields are the fields of a feedback report or of the original's header.
type fields struct {
	h textproto.Header
}

func (f fields) get(k string) string { return strings.TrimSpace(f.h.Get(k)) }
func (f fields) all(k string) []string {
	// go-message's Header.Add prepends; read the values back in mail order.
	var out []string
	for _, v := range slices.Backward(f.h.Values(k)) {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// ParseFeedbackPart turns one message/feedback-report body into an event.
// original is the third MIME part (the reported message or its headers) and
// may be nil; its Received headers supply the source IP when Source-IP is
// missing, and its Subject, Message-ID, From and Date go under extra.
//
// The event has source.ip, classification.type (from Feedback-Type: abuse →
// spam, fraud → phishing, virus → malware-distribution, auth-failure/dmarc →
// masquerade, not-spam/other → other; missing means abuse),
// classification.identifier "arf-<feedback type>", time.source (Arrival-Date,
// Received-Date, else the original's first Received date or Date), feed.name
// from User-Agent, source.url from Reported-URI, source.fqdn from
// Reported-Domain when that is not the recipient's own domain, and the other
// fields under extra.
func ParseFeedbackPart(part io.Reader, original io.Reader) (normalizer.Event, error) {
	fh, err := mimewalk.ReadHeader(bufio.NewReader(io.LimitReader(part, maxFeedbackBytes)))
	if err != nil && fh.Len() == 0 {
		return normalizer.Event{}, fmt.Errorf("reading feedback report: %w", err)
	}
	f := fields{fh}
	var oh textproto.Header
	if original != nil {
		oh, _ = mimewalk.ReadHeader(bufio.NewReader(io.LimitReader(original, maxFeedbackBytes)))
	}
	o := fields{oh}

	ev := normalizer.NewEvent(24)
	set := func(k string, v any) bool { return v != nil && v != "" && ev.Set(k, v) == nil }
	extra := func(k string, v any) {
		switch t := v.(type) {
		case string:
			if t == "" {
				return
			}
		case []string:
			if len(t) == 0 {
				return
			}
		}
		ev.Fields["extra."+k] = v
	}

	ftype := strings.ToLower(f.get("Feedback-Type"))
	if ftype == "" {
		ftype = "abuse"
	}
	class, ok := feedbackClasses[ftype]
	if !ok {
		class = "undetermined"
	}
	set("classification.type", class)
	set("classification.identifier", "arf-"+ftype)
	extra("feedback_type", ftype)

	ua := f.get("User-Agent")
	extra("user_agent", ua)
	feed := "ARF"
	if ua != "" {
		feed = strings.TrimSpace(strings.SplitN(ua, "/", 2)[0])
	}
	set("feed.name", feed)
	set("feed.provider", feed)
	extra("version", f.get("Version"))

	// Source IP: the report's, else the original's first external hop.
	srcField := ""
	if raw := f.get("Source-IP"); raw != "" {
		if a, ok := parseIP(raw); ok && set("source.ip", a.String()) {
			srcField = "Source-IP"
		} else {
			extra("source_ip", raw)
		}
	}
	if srcField == "" {
		if a, ok := firstExternalHop(o.all("Received")); ok && set("source.ip", a.String()) {
			srcField = "Received"
		}
	}
	if srcField == "" {
		return normalizer.Event{}, &normalizer.FieldError{Field: "Source-IP", Value: f.get("Source-IP"), Err: ErrNoSource}
	}
	extra("source_ip_from", srcField)

	// Time: Arrival-Date (RFC), Received-Date (AOL, Yahoo), then the original.
	timeSet := false
	for _, k := range []string{"Arrival-Date", "Received-Date"} {
		if v := f.get(k); v != "" {
			if t, err := parseDate(v); err == nil && set("time.source", t) {
				timeSet = true
				break
			}
			extra(snakeKey(k), v)
		}
	}
	if !timeSet {
		// Only the top hop is the reporter's arrival time.
		if rcvs := o.all("Received"); len(rcvs) > 0 {
			if i := strings.LastIndexByte(rcvs[0], ';'); i >= 0 {
				if t, err := parseDate(rcvs[0][i+1:]); err == nil && set("time.source", t) {
					timeSet = true
				}
			}
		}
	}
	if !timeSet {
		if t, err := parseDate(o.get("Date")); err == nil {
			set("time.source", t)
		}
	}

	rcpts := f.all("Original-Rcpt-To")
	extra("original_rcpt_to", rcpts)
	mailFrom := f.get("Original-Mail-From")
	extra("original_mail_from", strings.Trim(mailFrom, "<> "))

	// Reported-Domain is the sender's domain in most reports, but some
	// generators (ReturnPath) put the recipient's own domain there.
	domains := f.all("Reported-Domain")
	extra("reported_domain", domains)
	for _, d := range domains {
		if !isRecipientDomain(d, rcpts) && set("source.fqdn", d) {
			break
		}
	}
	uris := f.all("Reported-URI")
	extra("reported_uri", uris)
	for _, u := range uris {
		if set("source.url", strings.Trim(u, "<> ")) {
			break
		}
	}
	if n, err := strconv.Atoi(f.get("Incidents")); err == nil {
		extra("incidents", n)
	}
	extra("authentication_results", f.all("Authentication-Results"))

	known := map[string]bool{"Feedback-Type": true, "User-Agent": true, "Version": true,
		"Source-Ip": true, "Arrival-Date": true, "Received-Date": true, "Original-Rcpt-To": true,
		"Original-Mail-From": true, "Reported-Domain": true, "Reported-Uri": true, "Incidents": true,
		"Authentication-Results": true}
	seen := map[string]bool{}
	for fs := fh.Fields(); fs.Next(); {
		k := fs.Key()
		if known[k] || seen[k] {
			continue
		}
		seen[k] = true
		vs := f.all(k)
		if len(vs) == 1 {
			extra(snakeKey(k), vs[0])
		} else {
			extra(snakeKey(k), vs)
		}
	}

	// The reported message.
	extra("subject", mimewalk.DecodeWords(o.get("Subject")))
	extra("message_id", strings.Trim(o.get("Message-Id"), "<> "))
	extra("original_from", mimewalk.DecodeWords(o.get("From")))
	extra("original_date", o.get("Date"))
	ev.Complete()
	return ev, nil
}

// parseIP reads "192.0.2.1", "[192.0.2.1]", "192.0.2.1:25", "IPv6:2001:db8::1".
func parseIP(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t("); i > 0 {
		s = s[:i]
	}
	s = strings.Trim(s, "[]<>")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "IPv6:"), "ipv6:")
	if a, err := normalizer.ParseAddr(s); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if h, _, ok := strings.Cut(s, "]:"); ok {
		return parseIP(h)
	}
	return netip.Addr{}, false
}

var ipInParens = regexp.MustCompile(`[\[(]\s*(?:IPv6:)?([0-9A-Fa-f.:]{3,45})\s*[\])]`)
var bareIP = regexp.MustCompile(`^\s*(?:IPv6:)?([0-9A-Fa-f.:]{3,45})\b`)

// receivedFromIP returns the connecting client's IP from the "from" clause
// of a Received header ("from host (rdns [192.0.2.1]) by …").
func receivedFromIP(rcv string) (netip.Addr, bool) {
	lower := strings.ToLower(rcv)
	i := strings.Index(lower, "from ")
	if i < 0 {
		return netip.Addr{}, false
	}
	clause := rcv[i+5:]
	if j := strings.Index(strings.ToLower(clause), " by "); j >= 0 {
		clause = clause[:j]
	}
	// "from 127.0.0.1 (EHLO host) (192.0.2.1)": prefer the bracketed IPs,
	// last non-loopback one first (it is the verified address).
	var found []netip.Addr
	for _, m := range ipInParens.FindAllStringSubmatch(clause, -1) {
		if a, ok := parseIP(m[1]); ok {
			found = append(found, a)
		}
	}
	if m := bareIP.FindStringSubmatch(clause); m != nil {
		if a, ok := parseIP(m[1]); ok {
			found = append(found, a)
		}
	}
	for _, a := range slices.Backward(found) {
		if !a.IsLoopback() && !a.IsUnspecified() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// firstExternalHop walks Received headers top down (newest first) and
// returns the first connecting IP that is public; failing that, the first
// that is not loopback or link-local (reports are often anonymised to
// private addresses).
func firstExternalHop(received []string) (netip.Addr, bool) {
	var fallback netip.Addr
	for _, rcv := range received {
		a, ok := receivedFromIP(rcv)
		if !ok || a.IsLinkLocalUnicast() || a.IsMulticast() {
			continue
		}
		if a.IsGlobalUnicast() && !a.IsPrivate() {
			return a, true
		}
		if !fallback.IsValid() {
			fallback = a
		}
	}
	return fallback, fallback.IsValid()
}

func isRecipientDomain(d string, rcpts []string) bool {
	d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	for _, r := range rcpts {
		rd := domainOf(r)
		if rd != "" && (rd == d || strings.HasSuffix(rd, "."+d)) {
			return true
		}
	}
	return false
}

// domainOf returns the domain of an e-mail address ("Name <a@b.example>").
func domainOf(addr string) string {
	if a, err := mail.ParseAddress(addr); err == nil {
		addr = a.Address
	}
	_, d, ok := strings.Cut(addr, "@")
	if !ok {
		return ""
	}
	return strings.ToLower(strings.Trim(d, "<> "))
}

// zoneOffsets are the zone names seen in mail dates that Go cannot place
// (it reads them as UTC), in seconds east of UTC.
var zoneOffsets = map[string]int{
	"EST": -5 * 3600, "EDT": -4 * 3600, "CST": -6 * 3600, "CDT": -5 * 3600,
	"MST": -7 * 3600, "MDT": -6 * 3600, "PST": -8 * 3600, "PDT": -7 * 3600,
	"CET": 3600, "CEST": 2 * 3600, "BST": 3600, "JST": 9 * 3600,
}

// fixZone corrects a time parsed with a zone name Go does not know.
func fixZone(t time.Time) time.Time {
	name, off := t.Zone()
	if want, ok := zoneOffsets[name]; ok && off == 0 {
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.FixedZone(name, want))
	}
	return t
}

// parseDate reads mail dates, including "(EST)" comments, "UT" and two-digit
// oddities net/mail accepts, then the common report formats.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := mail.ParseDate(s); err == nil {
		return fixZone(t), nil
	}
	if t, err := time.Parse("Mon, 2 Jan 2006 15:04:05 MST", s); err == nil {
		return fixZone(t), nil
	}
	return normalizer.ParseTime(s)
}

func snakeKey(k string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(k)), "-", "_")
}
