package rttest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// expr is a parsed TicketSQL query: the subset abusegw and the tests use
// (id, Queue, Status, Subject, LastUpdated/Updated, Created and CF.{Name}
// with =, !=, <, <=, >, >=, LIKE, IS [NOT] NULL, AND, OR and parentheses).
type expr interface{ match(*Ticket) bool }

type andExpr struct{ l, r expr }
type orExpr struct{ l, r expr }
type cond struct{ field, op, value string }

func (e andExpr) match(t *Ticket) bool { return e.l.match(t) && e.r.match(t) }
func (e orExpr) match(t *Ticket) bool  { return e.l.match(t) || e.r.match(t) }

// trueExpr is the empty query.
type trueExpr struct{}

func (trueExpr) match(*Ticket) bool { return true }

var inactive = map[string]bool{"resolved": true, "rejected": true, "deleted": true}

func (c cond) match(t *Ticket) bool {
	if name, ok := cfName(c.field); ok {
		v, set := t.CustomFields[name]
		switch c.op {
		case "IS NULL":
			return !set || v == ""
		case "IS NOT NULL":
			return set && v != ""
		}
		return compareString(v, c.op, c.value)
	}
	switch strings.ToLower(c.field) {
	case "id":
		n, _ := strconv.Atoi(c.value)
		return compareInt(t.ID, c.op, n)
	case "queue":
		return compareString(t.Queue, c.op, c.value)
	case "subject":
		return compareString(t.Subject, c.op, c.value)
	case "status":
		switch c.value {
		case "__Active__":
			return (c.op == "=") == !inactive[t.Status]
		case "__Inactive__":
			return (c.op == "=") == inactive[t.Status]
		}
		return compareString(t.Status, c.op, c.value)
	case "lastupdated", "updated":
		return compareTime(t.LastUpdated, c.op, c.value)
	case "created":
		return compareTime(t.Created, c.op, c.value)
	}
	return false
}

func cfName(field string) (string, bool) {
	f, ok := strings.CutPrefix(field, "CF.")
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(strings.TrimPrefix(f, "{"), "}"), true
}

// RT compares strings without regard to case.
func compareString(v, op, want string) bool {
	v, want = strings.ToLower(v), strings.ToLower(want)
	switch op {
	case "=":
		return v == want
	case "!=":
		return v != want
	case "LIKE":
		return strings.Contains(v, want)
	case "NOT LIKE":
		return !strings.Contains(v, want)
	}
	return false
}

func compareInt(a int, op string, b int) bool {
	switch op {
	case "=":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

// compareTime compares to the second, reading the literal in UTC (the
// peer's RT runs with Timezone UTC).
func compareTime(at time.Time, op, lit string) bool {
	var want time.Time
	var err error
	for _, layout := range []string{"2006-01-02 15:04:05", time.RFC3339, "2006-01-02"} {
		if want, err = time.Parse(layout, lit); err == nil {
			break
		}
	}
	if err != nil {
		return false
	}
	a, b := at.Truncate(time.Second).Unix(), want.Unix()
	return compareInt(int(a-b), op, 0)
}

// parseTicketSQL parses q; errors read like RT's.
func parseTicketSQL(q string) (expr, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return trueExpr{}, nil
	}
	p := &parser{toks: toks, q: q}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("Wrong query, expecting a AGGREGATOR in '%s'", q)
	}
	return e, nil
}

type token struct {
	text   string
	quoted bool
}

func lex(q string) ([]token, error) {
	var toks []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(' || c == ')':
			toks = append(toks, token{text: string(c)})
			i++
		case c == '\'' || c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(q) && q[j] != c; j++ {
				if q[j] == '\\' && j+1 < len(q) {
					j++
				}
				b.WriteByte(q[j])
			}
			if j >= len(q) {
				return nil, fmt.Errorf("Wrong query, unterminated string in '%s'", q)
			}
			toks = append(toks, token{text: b.String(), quoted: true})
			i = j + 1
		case strings.ContainsRune("=!<>", rune(c)):
			j := i + 1
			for j < len(q) && strings.ContainsRune("=<>", rune(q[j])) {
				j++
			}
			toks = append(toks, token{text: q[i:j]})
			i = j
		default:
			j := i
			for j < len(q) && !strings.ContainsRune(" \t\n()=!<>'\"", rune(q[j])) {
				j++
			}
			toks = append(toks, token{text: q[i:j]})
			i = j
		}
	}
	return toks, nil
}

type parser struct {
	toks []token
	i    int
	q    string
}

func (p *parser) peekWord(w string) bool {
	return p.i < len(p.toks) && !p.toks[p.i].quoted && strings.EqualFold(p.toks[p.i].text, w)
}

func (p *parser) or() (expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peekWord("OR") {
		p.i++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orExpr{l, r}
	}
	return l, nil
}

func (p *parser) and() (expr, error) {
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.peekWord("AND") {
		p.i++
		r, err := p.term()
		if err != nil {
			return nil, err
		}
		l = andExpr{l, r}
	}
	return l, nil
}

func (p *parser) term() (expr, error) {
	if p.peekWord("(") {
		p.i++
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.peekWord(")") {
			return nil, fmt.Errorf("Wrong query, expecting a CLOSEPAREN in '%s'", p.q)
		}
		p.i++
		return e, nil
	}
	if p.i >= len(p.toks) {
		return nil, fmt.Errorf("Incomplete query, last element (KEYWORD) is not close paren or value in '%s'", p.q)
	}
	field := p.toks[p.i].text
	p.i++
	if _, isCF := cfName(field); !isCF {
		switch strings.ToLower(field) {
		case "id", "queue", "status", "subject", "lastupdated", "updated", "created":
		default:
			return nil, fmt.Errorf("Unknown field: %s", field)
		}
	}
	if p.i >= len(p.toks) {
		return nil, fmt.Errorf("Incomplete query, last element (KEYWORD) is not close paren or value in '%s'", p.q)
	}
	op := strings.ToUpper(p.toks[p.i].text)
	p.i++
	switch op {
	case "IS":
		if p.peekWord("NOT") {
			p.i++
			op = "IS NOT"
		}
		if !p.peekWord("NULL") {
			return nil, fmt.Errorf("Wrong query, expecting NULL in '%s'", p.q)
		}
		p.i++
		return cond{field: field, op: op + " NULL"}, nil
	case "NOT":
		if !p.peekWord("LIKE") {
			return nil, fmt.Errorf("Wrong query, expecting LIKE in '%s'", p.q)
		}
		p.i++
		op = "NOT LIKE"
	case "=", "!=", "<", "<=", ">", ">=", "LIKE":
	default:
		return nil, fmt.Errorf("Wrong query, expecting a OPERATOR in '%s'", p.q)
	}
	if p.i >= len(p.toks) {
		return nil, fmt.Errorf("Incomplete query, last element (OPERATOR) is not close paren or value in '%s'", p.q)
	}
	v := p.toks[p.i].text
	p.i++
	return cond{field: field, op: op, value: v}, nil
}
