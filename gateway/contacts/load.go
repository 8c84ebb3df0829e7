package contacts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// loadFile reads a contacts file of the given format ("csv" or "yaml") into
// a table whose customers name source.
func loadFile(ctx context.Context, path, format, source string) (*table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening contacts file: %w", err)
	}
	defer f.Close()
	if format == "yaml" {
		return parseYAML(ctx, f, path, source)
	}
	return parseCSV(ctx, f, path, source)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

const knownColumns = "network or asn or domain, customer, name, email, and optionally connector, queue, language, tags"

// parseCSV reads a contacts CSV file:
//
//	network,customer,name,email,connector,queue,language,tags
//	192.0.2.0/24,c-1001,Example GmbH,abuse@example.com;noc@example.com,rt,abuse,de,dsl
//
// The header names the columns in any order: one or more of network, asn
// and domain (each row sets exactly one), customer, name and email, and
// optionally connector, queue, language and tags. A cell of e-mails or tags
// separates them with ";" or ","; a row repeated for the same network adds
// its e-mails. Lines starting with # are comments. A UTF-8 byte order mark
// is skipped.
func parseCSV(ctx context.Context, r io.Reader, file, source string) (*table, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &ParseError{File: file, Line: 1, Err: fmt.Errorf("empty file: want a header line naming the columns (%s)", knownColumns)}
	}
	if err != nil {
		return nil, csvError(file, err)
	}
	cols := make([]column, len(header))
	var have [numColumns]bool
	for i, h := range header {
		line, col := cr.FieldPos(i)
		c, ok := columnByName(h)
		if !ok {
			return nil, &ParseError{File: file, Line: line, Column: col, Err: fmt.Errorf("unknown column %q in the header (known: %s)", h, knownColumns)}
		}
		if have[c] {
			return nil, &ParseError{File: file, Line: line, Column: col, Err: fmt.Errorf("column %q appears twice in the header", h)}
		}
		have[c] = true
		cols[i] = c
	}
	var missing []string
	if !have[colNetwork] && !have[colASN] && !have[colDomain] {
		missing = append(missing, "network (or asn, domain)")
	}
	for _, c := range []column{colCustomer, colName, colEmail} {
		if !have[c] {
			missing = append(missing, columnNames[c])
		}
	}
	if len(missing) > 0 {
		line, _ := cr.FieldPos(0)
		return nil, &ParseError{File: file, Line: line, Err: fmt.Errorf("the header lacks the column(s) %s", strings.Join(missing, ", "))}
	}

	b := newBuilder(file, source)
	var cells [numColumns]cell
	for n := 0; ; n++ {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("reading %s: %w", file, err)
			}
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("reading %s: %w", file, err)
			}
			if b.fail(csvError(file, err)) && errors.Is(err, csv.ErrFieldCount) {
				continue // the row is skipped, the next ones still checked
			}
			break
		}
		line, _ := cr.FieldPos(0)
		cells = [numColumns]cell{}
		for i, v := range rec {
			l, c := cr.FieldPos(i)
			cells[cols[i]] = cell{value: v, line: l, column: c, set: true}
		}
		if !b.add(&cells, line) {
			break
		}
	}
	return b.build()
}

// csvError turns an encoding/csv error into a ParseError.
func csvError(file string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{File: file, Line: pe.Line, Column: pe.Column, Err: pe.Err}
	}
	return &ParseError{File: file, Err: err}
}

// parseYAML reads a contacts YAML file: a list of entries with the same keys
// as the CSV columns, where email and tags may also be lists.
//
//   - network: 192.0.2.0/24
//     customer: c-1001
//     name: Example GmbH
//     email: [abuse@example.com, noc@example.com]
//   - asn: AS64496
//     customer: c-1002
//     name: Transit AG
//     email: abuse@transit.example
//
// The whole document is held in memory while it loads: use CSV for very
// large tables.
func parseYAML(ctx context.Context, r io.Reader, file, source string) (*table, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &ParseError{File: file, Err: err}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &ParseError{File: file, Line: 1, Err: errors.New("empty file: want a list of entries")}
	}
	root := doc.Content[0]
	if root.Kind != yaml.SequenceNode {
		return nil, &ParseError{File: file, Line: root.Line, Column: root.Column, Err: fmt.Errorf("want a list of entries, found a %s", kindName(root.Kind))}
	}
	b := newBuilder(file, source)
	var cells [numColumns]cell
	for n, item := range root.Content {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("reading %s: %w", file, err)
			}
		}
		if item.Kind != yaml.MappingNode {
			if !b.fail(&ParseError{File: file, Line: item.Line, Column: item.Column, Err: fmt.Errorf("want an entry (a mapping of keys), found a %s", kindName(item.Kind))}) {
				break
			}
			continue
		}
		cells = [numColumns]cell{}
		ok := true
		for i := 0; i+1 < len(item.Content); i += 2 {
			k, v := item.Content[i], item.Content[i+1]
			c, known := columnByName(k.Value)
			var err error
			switch {
			case !known:
				err = fmt.Errorf("unknown key %q (known: %s)", k.Value, knownColumns)
			case cells[c].set:
				err = fmt.Errorf("key %q appears twice", k.Value)
			}
			if err != nil {
				ok = b.fail(&ParseError{File: file, Line: k.Line, Column: k.Column, Err: err})
				break
			}
			val, err := yamlCell(v, c == colEmail || c == colTags)
			if err != nil {
				ok = b.fail(&ParseError{File: file, Line: v.Line, Column: v.Column, Field: columnNames[c], Err: err})
				break
			}
			cells[c] = cell{value: val, line: v.Line, column: v.Column, set: true}
		}
		if ok && !b.add(&cells, item.Line) {
			ok = false
		}
		if !ok && len(b.errs) >= maxErrors {
			break
		}
	}
	return b.build()
}

// yamlCell returns a value as one cell; lists (allowed for email and tags)
// are joined with ";".
func yamlCell(v *yaml.Node, list bool) (string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return "", nil
		}
		return v.Value, nil
	case yaml.SequenceNode:
		if !list {
			break
		}
		parts := make([]string, 0, len(v.Content))
		for _, c := range v.Content {
			if c.Kind != yaml.ScalarNode {
				return "", fmt.Errorf("want a list of strings, found a %s in it", kindName(c.Kind))
			}
			parts = append(parts, c.Value)
		}
		return strings.Join(parts, ";"), nil
	}
	if list {
		return "", fmt.Errorf("want a string or a list of strings, found a %s", kindName(v.Kind))
	}
	return "", fmt.Errorf("want a string, found a %s", kindName(v.Kind))
}
