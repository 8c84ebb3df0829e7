package content

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// Width is the column at which message lines are wrapped.
const Width = 76

// maxValue is the longest sample value shown, in runes.
const maxValue = 200

// funcs are the functions templates may call (see the package doc).
var funcs = template.FuncMap{
	"iso":    iso,
	"date":   date,
	"ports":  ports,
	"join":   strings.Join,
	"plural": plural,
	"fields": fields,
	"add":    func(a, b int) int { return a + b },
}

// iso formats t in UTC as 2006-01-02T15:04:05Z; the zero time is "".
func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// date formats t's UTC date; the zero time is "".
func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

func ports(p []int) string {
	s := make([]string, len(p))
	for i, n := range p {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Field is one field of a sample event.
type Field struct{ Key, Value string }

// fields returns a sample's fields sorted by key, the values on one line,
// cut at maxValue runes; "raw" (the original report line) is left out.
func fields(m map[string]any) []Field {
	out := make([]Field, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k == "raw" || m[k] == nil {
			continue
		}
		var v string
		switch x := m[k].(type) {
		case time.Time:
			v = iso(x)
		case fmt.Stringer:
			v = x.String()
		default:
			v = fmt.Sprint(x)
		}
		v = oneLine(v)
		if utf8.RuneCountInString(v) > maxValue {
			v = string([]rune(v)[:maxValue-1]) + "…"
		}
		if v == "" {
			continue
		}
		out = append(out, Field{Key: oneLine(k), Value: v})
	}
	return out
}

// oneLine replaces runs of white space and control characters by one space
// and trims the ends, so untrusted text cannot start a line of its own.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// hanging matches, after a line's indentation, what continuation lines
// are indented past: a list bullet ("- ", "1. ", "[1] "), a field label
// without spaces ("source.ip: ") or a label of words followed by aligning
// spaces ("First seen:   ").
var hanging = regexp.MustCompile(`^(?:(?:[-*•]|\d{1,3}[.)]|\[\d{1,3}\])\s+|[\pL][\pL\pN_.\-]{0,38}:\s+|[\pL][\pL ]{0,22}:\s{2,})`)

// layout tidies rendered text: line ends normalised, trailing space trimmed,
// runs of blank lines collapsed into one, blank lines at the ends dropped,
// long lines wrapped at width, and a final newline. Empty text stays empty.
func layout(s string, width int) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var out []string
	blank := false
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimRightFunc(strings.ReplaceAll(line, "\t", "    "), unicode.IsSpace)
		if line == "" {
			blank = len(out) > 0
			continue
		}
		if blank {
			out = append(out, "")
			blank = false
		}
		out = append(out, wrap(line, width)...)
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

// wrap breaks one line at spaces so that no piece is longer than width,
// unless a single word is. Continuation lines keep the indentation, plus the
// width of a list bullet or label (see hanging) when the line starts with
// one and it leaves room for the text.
func wrap(line string, width int) []string {
	if utf8.RuneCountInString(line) <= width {
		return []string{line}
	}
	rest := strings.TrimLeft(line, " ")
	indent := len(line) - len(rest)
	head := strings.Repeat(" ", indent)
	hang := indent
	if m := hanging.FindString(rest); m != "" && indent+utf8.RuneCountInString(m) <= width/2 {
		head += m
		hang += utf8.RuneCountInString(m)
		rest = rest[len(m):]
	}
	words := strings.Fields(rest)
	var out []string
	cur := head
	curLen := utf8.RuneCountInString(cur)
	start := curLen
	for _, w := range words {
		wl := utf8.RuneCountInString(w)
		if curLen > start && curLen+1+wl > width {
			out = append(out, cur)
			cur = strings.Repeat(" ", hang)
			curLen = hang
			start = hang
		}
		if curLen > start {
			cur += " "
			curLen++
		}
		cur += w
		curLen += wl
	}
	return append(out, cur)
}

// Language returns the language set a tag selects: its primary subtag in
// lower case ("de-DE", "de_AT.UTF-8" → "de"), "" for none.
func Language(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_.@"); i >= 0 {
		tag = tag[:i]
	}
	return tag
}
