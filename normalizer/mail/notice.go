package mail

import (
	"encoding/xml"
	"fmt"
	"html"
	"regexp"
	"strings"
	"time"

	"github.com/abusegw/abusegw/mappings/notices"
	"github.com/abusegw/abusegw/normalizer"
)

// applySender runs a sender's rules on one text part. It returns Events and
// RowErrors in the order found.
func applySender(s *notices.Sender, subject string, t text, file, date string) []any {
	defaults := map[string]string{}
	for _, re := range s.CommonRE {
		for _, src := range []string{subject, t.body} {
			if m := re.FindStringSubmatch(src); m != nil {
				for i, name := range re.SubexpNames() {
					if name != "" && m[i] != "" {
						if _, ok := defaults[name]; !ok {
							defaults[name] = m[i]
						}
					}
				}
				break
			}
		}
	}
	var out []any
	for _, rule := range s.Rules {
		blocks := []string{t.body}
		if rule.WithinRE != nil {
			blocks = nil
			for _, m := range rule.WithinRE.FindAllStringSubmatch(t.body, -1) {
				if len(m) > 1 {
					blocks = append(blocks, m[1])
				} else {
					blocks = append(blocks, m[0])
				}
			}
		}
		for _, block := range blocks {
			for _, m := range rule.RE.FindAllStringSubmatch(block, 1000) {
				groups := make(map[string]string, len(defaults)+4)
				for k, v := range defaults {
					groups[k] = v
				}
				for i, name := range rule.RE.SubexpNames() {
					if name != "" && strings.TrimSpace(m[i]) != "" {
						groups[name] = m[i]
					}
				}
				out = append(out, buildEvent(s, rule, groups, t.part, file))
			}
		}
	}
	return out
}

func buildEvent(s *notices.Sender, rule *notices.Rule, groups map[string]string, part, file string) any {
	ev := normalizer.NewEvent(len(groups) + 6)
	ev.Raw = normalizer.RawRef{File: file, Part: part}
	class := s.Classification
	if rule.Classification.Type != "" || rule.Classification.Identifier != "" {
		class = rule.Classification
	}
	if rep, ok := groups["report"]; ok {
		if c, ok := lookupFold(s.TypeMap, strings.TrimSpace(rep)); ok {
			class = c
		}
	}
	set := func(field string, v any) error {
		if err := ev.Set(field, v); err != nil {
			return &normalizer.RowError{File: file, Part: part, Field: field, Err: fmt.Errorf("notice rule %s: %w", s.Name, err)}
		}
		return nil
	}
	fixed := [][2]string{
		{"feed.name", s.Feed}, {"feed.provider", s.Provider},
		{"classification.type", class.Type}, {"classification.identifier", class.Identifier},
	}
	for _, f := range fixed {
		if f[1] != "" {
			if err := set(f[0], f[1]); err != nil {
				return err
			}
		}
	}
	for k, v := range rule.Fields {
		if err := set(k, v); err != nil {
			return err
		}
	}
	for name, v := range groups {
		v = strings.TrimSpace(html.UnescapeString(v))
		field := notices.Field(name)
		var val any = v
		switch name {
		case "time":
			tm, err := parseTime(v, s.TimeFormats)
			if err != nil {
				return &normalizer.RowError{File: file, Part: part, Field: field, Err: fmt.Errorf("notice rule %s: time %q: %w", s.Name, v, err)}
			}
			val = tm
		case "identifier":
			val = strings.ReplaceAll(strings.ToLower(v), " ", "-")
		case "report":
			continue
		}
		if err := set(field, val); err != nil {
			return err
		}
	}
	ev.Complete()
	return ev
}

func lookupFold(m map[string]notices.Classification, k string) (notices.Classification, bool) {
	for key, c := range m {
		if strings.EqualFold(key, k) {
			return c, true
		}
	}
	return notices.Classification{}, false
}

// zoneOffsets are the zone abbreviations notices use; Go's parser would give
// them a zero offset.
var zoneOffsets = map[string]string{
	"UTC": "+0000", "GMT": "+0000", "UT": "+0000", "Z": "+0000",
	"WET": "+0000", "WEST": "+0100", "BST": "+0100", "CET": "+0100", "CEST": "+0200", "MET": "+0100", "MEST": "+0200",
	"EET": "+0200", "EEST": "+0300", "MSK": "+0300", "JST": "+0900",
	"EST": "-0500", "EDT": "-0400", "CST": "-0600", "CDT": "-0500",
	"MST": "-0700", "MDT": "-0600", "PST": "-0800", "PDT": "-0700",
}

var zoneRE = regexp.MustCompile(`\b([A-Z]{1,4})\s*$`)

var noticeLayouts = []string{
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 -07:00",
	"2006-01-02 15:04:05-07:00",
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, _2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 -0700",
	"02 Jan 2006 15:04:05 -0700",
}

// parseTime reads a time as notices write it: the common formats, the
// sender's layouts, and zone abbreviations replaced by their offsets.
func parseTime(s string, layouts []string) (time.Time, error) {
	s = strings.Join(strings.Fields(s), " ")
	numeric := s
	if m := zoneRE.FindStringSubmatchIndex(s); m != nil {
		if off, ok := zoneOffsets[s[m[2]:m[3]]]; ok {
			numeric = s[:m[2]] + off
			numeric = strings.Replace(numeric, "  ", " ", -1)
		}
	}
	if numeric == s {
		if t, err := normalizer.ParseTime(s); err == nil {
			return t, nil
		}
	}
	for _, l := range noticeLayouts {
		if t, err := time.Parse(l, numeric); err == nil {
			return t.UTC(), nil
		}
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil && (numeric == s || !strings.Contains(l, "MST")) {
			return t.UTC(), nil
		}
		if numeric != s {
			nl := strings.Replace(l, "MST", "-0700", 1)
			if t, err := time.Parse(nl, numeric); err == nil {
				return t.UTC(), nil
			}
		}
	}
	if t, err := normalizer.ParseTime(numeric); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: unrecognised time format", normalizer.ErrInvalidValue)
}

// acnsDoc is the part of an ACNS 1.2 infringement notice that says who and
// when (http://www.acns.net/ACNS).
type acnsDoc struct {
	XMLName xml.Name `xml:"Infringement"`
	Case    struct {
		ID string `xml:"ID"`
	} `xml:"Case"`
	Complainant struct {
		Entity string `xml:"Entity"`
	} `xml:"Complainant"`
	Source struct {
		TimeStamp string `xml:"TimeStamp"`
		IP        string `xml:"IP_Address"`
		Port      string `xml:"Port"`
		Type      string `xml:"Type"`
		DNS       string `xml:"DNS_Name"`
	} `xml:"Source"`
	Content struct {
		Item []struct {
			Title    string `xml:"Title"`
			FileName string `xml:"FileName"`
		} `xml:"Item"`
	} `xml:"Content"`
}

var acnsStart = regexp.MustCompile(`<Infringement[\s>]`)

// acns reads an ACNS XML notice embedded in a text body.
func acns(body, part, file string) ([]any, bool) {
	loc := acnsStart.FindStringIndex(body)
	if loc == nil {
		return nil, false
	}
	end := strings.Index(body[loc[0]:], "</Infringement>")
	if end < 0 {
		return nil, false
	}
	var doc acnsDoc
	if err := xml.Unmarshal([]byte(body[loc[0]:loc[0]+end+len("</Infringement>")]), &doc); err != nil {
		return []any{&normalizer.RowError{File: file, Part: part, Err: fmt.Errorf("reading ACNS notice: %w", err)}}, true
	}
	ev := normalizer.NewEvent(12)
	ev.Raw = normalizer.RawRef{File: file, Part: part}
	fields := [][2]string{
		{"classification.type", "copyright"},
		{"classification.identifier", "copyright"},
		{"feed.name", "acns"},
		{"feed.provider", doc.Complainant.Entity},
		{"source.ip", doc.Source.IP},
		{"source.port", doc.Source.Port},
		{"source.fqdn", doc.Source.DNS},
		{"protocol.application", strings.ToLower(doc.Source.Type)},
		{"extra.acns_case_id", doc.Case.ID},
	}
	if len(doc.Content.Item) > 0 {
		fields = append(fields, [2]string{"extra.title", doc.Content.Item[0].Title}, [2]string{"extra.file_name", doc.Content.Item[0].FileName})
	}
	for _, f := range fields {
		if strings.TrimSpace(f[1]) == "" {
			continue
		}
		if err := ev.Set(f[0], strings.TrimSpace(f[1])); err != nil {
			return []any{&normalizer.RowError{File: file, Part: part, Field: f[0], Err: fmt.Errorf("reading ACNS notice: %w", err)}}, true
		}
	}
	if ts := strings.TrimSpace(doc.Source.TimeStamp); ts != "" {
		if err := ev.Set("time.source", ts); err != nil {
			return []any{&normalizer.RowError{File: file, Part: part, Field: "time.source", Err: fmt.Errorf("reading ACNS notice: %w", err)}}, true
		}
	}
	if !ev.Has("source.ip") && !ev.Has("source.fqdn") {
		return nil, false
	}
	ev.Complete()
	return []any{ev}, true
}
