package status

import (
	"strings"
	"testing"

	"github.com/abusegw/abusegw/connectors"
)

// Every embedded table loads, can reopen (to.open), and names in "to" only
// statuses that map back to a known canonical status.
func TestEmbeddedTables(t *testing.T) {
	want := []string{"freshdesk", "gitlab", "jira", "rt", "zammad", "znuny"}
	if got := Helpdesks(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Helpdesks() = %v, want %v", got, want)
	}
	for _, h := range want {
		t.Run(h, func(t *testing.T) {
			m, err := Load(h, nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.Helpdesk() != h {
				t.Errorf("Helpdesk() = %q", m.Helpdesk())
			}
			raw, ok := m.Raw(connectors.StatusOpen)
			if !ok {
				t.Fatalf("no status to reopen with (to.open)")
			}
			if s, _ := m.Canonical(raw); s != connectors.StatusOpen {
				t.Errorf("reopen status %q maps back to %q, want open", raw, s)
			}
		})
	}
}

func TestRT(t *testing.T) {
	m, err := Load("rt", nil)
	if err != nil {
		t.Fatal(err)
	}
	for theirs, ours := range map[string]connectors.Status{
		"new": connectors.StatusNew, "open": connectors.StatusOpen, "stalled": connectors.StatusPending,
		"resolved": connectors.StatusResolved, "rejected": connectors.StatusClosed,
		"deleted": connectors.StatusClosed, " Resolved ": connectors.StatusResolved,
	} {
		if got, ok := m.Canonical(theirs); !ok || got != ours {
			t.Errorf("Canonical(%q) = %q, %v; want %q", theirs, got, ok, ours)
		}
	}
	if got, ok := m.Canonical("investigating"); ok {
		t.Errorf("Canonical(unknown) = %q, true", got)
	}
}

func TestOverride(t *testing.T) {
	tests := []struct {
		name     string
		override map[string]string
		theirs   string
		want     connectors.Status
		errMsg   string
	}{
		{name: "adds a custom status", override: map[string]string{"Investigating": "open"}, theirs: "investigating", want: connectors.StatusOpen},
		{name: "replaces a default", override: map[string]string{"stalled": "open"}, theirs: "stalled", want: connectors.StatusOpen},
		{name: "rejects a non-canonical target", override: map[string]string{"stalled": "waiting"}, errMsg: `"stalled" maps to "waiting"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Load("rt", tt.override)
			if tt.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errMsg) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := m.Canonical(tt.theirs); got != tt.want {
				t.Errorf("Canonical(%q) = %q, want %q", tt.theirs, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, yaml, errMsg string }{
		{"unknown key", "helpdesk: x\nfrom: {a: open}\nextra: 1\n", "field extra not found"},
		{"bad canonical", "from: {a: done}\n", `"a" maps to "done"`},
		{"to names unknown", "from: {a: open}\nto: {open: b}\n", `"b" is not in from`},
		{"empty", "helpdesk: x\n", "maps no status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tt.errMsg) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.errMsg)
			}
		})
	}
}

func TestLoadUnknownHelpdesk(t *testing.T) {
	if _, err := Load("otrs", nil); err == nil || !strings.Contains(err.Error(), "rt") {
		t.Fatalf("err = %v, want a list of known helpdesks", err)
	}
}
