package xarf

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"

	"github.com/abusegw/abusegw/normalizer"
	"github.com/abusegw/abusegw/normalizer/internal/mimewalk"
)

// ParseMessage reads a whole X-ARF v0.1/v0.2 mail (an .eml, optionally with
// a leading mbox "From " line) and returns one event per YAML report part
// (some senders attach several). JSON v3/v4 reports attached to a mail are
// parsed too. name is the file name for RawRef and errors; each event's
// RawRef.Part is the MIME part path ("2", "1.3").
//
// A mail without any X-ARF report part returns normalizer.ErrUnrecognized.
// A report part that is rejected becomes a *normalizer.RowError naming the
// part; the events of the other parts are still returned.
func ParseMessage(r io.Reader, name string) ([]normalizer.Event, error) {
	lr := &io.LimitedReader{R: r, N: MaxDocumentSize + 1}
	var parts []*mimewalk.Part
	top, err := mimewalk.Walk(lr, func(p *mimewalk.Part) { parts = append(parts, p) })
	if err != nil {
		return nil, fmt.Errorf("reading X-ARF mail %s: %w", name, err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("reading X-ARF mail %s: %w (limit %d bytes)", name, ErrTooLarge, MaxDocumentSize)
	}
	headers := top.Map()
	var events []normalizer.Event
	var errs []error
	found := false
	for _, p := range parts {
		var evs []normalizer.Event
		var perr error
		switch {
		case DetectYAMLPart(p.Header.Get("Content-Type"), p.Body):
			evs, perr = ParseV02Report(p.Body, headers)
		case (p.MediaType == "application/json" || strings.HasSuffix(p.MediaType, "+json") || p.MediaType == "text/plain" || p.MediaType == "application/octet-stream") && DetectJSON(p.Body):
			evs, perr = Parse(strings.NewReader(string(p.Body)), partName(name, p))
		default:
			continue
		}
		found = true
		if perr != nil {
			errs = append(errs, rowError(name, p.Path, perr))
		}
		for _, ev := range evs {
			ev.Raw.File, ev.Raw.Part = name, p.Path
			fillIPFromText(&ev, parts)
			events = append(events, ev)
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: no X-ARF report part: %w", name, normalizer.ErrUnrecognized)
	}
	return events, errors.Join(errs...)
}

func partName(name string, p *mimewalk.Part) string {
	if fn := p.Params["name"]; fn != "" {
		return fn
	}
	return name
}

func rowError(name, part string, err error) error {
	var re *normalizer.RowError
	if errors.As(err, &re) {
		re.File, re.Part = name, part
		return re
	}
	out := &normalizer.RowError{File: name, Part: part, Err: err}
	var se *SchemaError
	if errors.As(err, &se) {
		out.Field = se.Field
	}
	return out
}

// urlWithIP matches "http://host/path [192.0.2.1]" as takedown services
// (Netcraft) write the address of a reported URL in the mail text.
var urlWithIP = regexp.MustCompile(`(?i)\b(https?://[^\s\[\]<>"]+)\s*\[([0-9a-f.:]{3,45})\]`)

// fillIPFromText gives an event that names a URL but no IP the address the
// mail's text gives for that URL's host, as a person reading it would.
func fillIPFromText(ev *normalizer.Event, parts []*mimewalk.Part) {
	host := ev.String("source.fqdn")
	if host == "" || ev.Has("source.ip") {
		return
	}
	for _, p := range parts {
		if !strings.HasPrefix(p.MediaType, "text/plain") || DetectYAMLPart(p.Header.Get("Content-Type"), p.Body) {
			continue
		}
		for _, m := range urlWithIP.FindAllStringSubmatch(string(p.Body), 50) {
			u, err := url.Parse(m[1])
			if err != nil || !strings.EqualFold(u.Hostname(), host) {
				continue
			}
			if a, err := normalizer.ParseAddr(m[2]); err == nil {
				if ev.Set("source.ip", a.String()) == nil {
					ev.Fields["extra.source_ip_from"] = "mail text"
				}
				return
			}
		}
	}
}
