package notices

import (
	"strings"
	"testing"
)

func TestDefaultCompiles(t *testing.T) {
	t.Parallel()
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Senders) < 5 {
		t.Fatalf("%d senders", len(s.Senders))
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ yaml, want string }{
		{"senders:\n  - name: a\n    rules: [{regex: '(?P<ip>x)'}]\n", "match"},
		{"senders:\n  - name: a\n    match: {from: [x.org]}\n    rules: [{regex: '(x'}]\n", "regex"},
		{"senders:\n  - name: a\n    match: {from: [x.org]}\n    rules: [{regex: 'x'}]\n", "no group ip"},
		{"senders:\n  - name: a\n    bogus: 1\n", "bogus"},
	}
	for _, tt := range tests {
		if _, err := Load([]byte(tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	var spamcop *Sender
	for _, x := range s.Senders {
		if x.Name == "spamcop" {
			spamcop = x
		}
	}
	if !spamcop.Matches("reports.spamcop.net", "", "") || spamcop.Matches("notspamcop.net", "", "") {
		t.Error("from domain matching")
	}
}
