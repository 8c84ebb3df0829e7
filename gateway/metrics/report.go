package metrics

import (
	"fmt"
	"strings"
	"time"
)

// GroupBy names how a report's figures are grouped.
type GroupBy string

// The groupings of a report.
const (
	GroupNone           GroupBy = ""
	GroupCustomer       GroupBy = "customer"
	GroupClassification GroupBy = "classification"
	GroupFeed           GroupBy = "feed"
	GroupConnector      GroupBy = "connector"
)

// ParseGroupBy reads a grouping ("", "none", customer, classification, feed
// or connector).
func ParseGroupBy(s string) (GroupBy, error) {
	switch g := GroupBy(strings.ToLower(strings.TrimSpace(s))); g {
	case GroupNone, GroupCustomer, GroupClassification, GroupFeed, GroupConnector:
		return g, nil
	case "none":
		return GroupNone, nil
	}
	return "", fmt.Errorf("group by %q: want customer, classification, feed, connector or none", s)
}

// ParseTime reads a period bound: a date (YYYY-MM-DD, midnight UTC) or an
// RFC 3339 time. "" gives the zero time.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a date (2006-01-02) nor an RFC 3339 time (2006-01-02T15:04:05Z)", s)
	}
	return t.UTC(), nil
}

// Query selects a report: the period [From, To) and the grouping. A zero
// From means the beginning of time; a zero To means now.
type Query struct {
	From    time.Time
	To      time.Time
	GroupBy GroupBy
}

// Durations summarise how long cases took to reach a point, in seconds
// (millisecond precision). The percentiles interpolate linearly between
// the nearest ranks, as PostgreSQL's percentile_cont does; they are null
// when no case got there.
type Durations struct {
	Count         int64    `json:"count"`
	MedianSeconds *float64 `json:"median_seconds"`
	P90Seconds    *float64 `json:"p90_seconds"`
	MaxSeconds    *float64 `json:"max_seconds"`
}

// AgeBuckets count the cases open at the end of a period by time since
// receipt; each bucket includes its lower bound.
type AgeBuckets struct {
	Under1Day  int64 `json:"lt_1d"`
	Days1To3   int64 `json:"1d_3d"`
	Days3To7   int64 `json:"3d_7d"`
	Days7To30  int64 `json:"7d_30d"`
	Over30Days int64 `json:"gt_30d"`
	Total      int64 `json:"total"`
}

// ClosureReason counts resolved cases with one closure reason.
type ClosureReason struct {
	Reason  string `json:"reason"`
	ActedOn bool   `json:"acted_on"`
	Cases   int64  `json:"cases"`
}

// Figures are the compliance figures of one group (or of all cases). The
// definitions are in README.md, "Compliance metrics". Shares are fractions
// (0.25 is 25 %), null when their denominator is zero.
type Figures struct {
	ReportsReceived int64 `json:"reports_received"`
	EventsReceived  int64 `json:"events_received"`
	EventsUnowned   int64 `json:"events_unowned"`
	EventsIgnored   int64 `json:"events_ignored"`

	CasesOpened    int64    `json:"cases_opened"`
	CasesNotified  int64    `json:"cases_notified"`
	CasesResponded int64    `json:"cases_responded"`
	CasesResolved  int64    `json:"cases_resolved"`
	CasesActedOn   int64    `json:"cases_acted_on"`
	ActedOnShare   *float64 `json:"acted_on_share"`
	CasesReopened  int64    `json:"cases_reopened"`
	Reopens        int64    `json:"reopens"`

	TimeToNotify        Durations `json:"time_to_notify"`
	TimeToFirstResponse Durations `json:"time_to_first_response"`
	TimeToResolve       Durations `json:"time_to_resolve"`

	SLADue   int64    `json:"sla_due"`
	SLAMet   int64    `json:"sla_met"`
	SLAShare *float64 `json:"sla_share"`

	OpenByAge AgeBuckets `json:"open_by_age"`

	Relapses    int64    `json:"relapses"`
	RelapseRate *float64 `json:"relapse_rate"`

	ClosureReasons []ClosureReason `json:"closure_reasons"`
}

// Group is the figures of one value of the grouping. Key is the customer's
// key, the classification identifier, the feed or the connector ("" for
// cases without one); Label is the customer's name.
type Group struct {
	Key   string `json:"key"`
	Label string `json:"label,omitempty"`
	Figures
}

// Offender is a customer with repeated cases in the period.
type Offender struct {
	Customer        string `json:"customer" db:"customer"`
	Name            string `json:"name,omitempty" db:"name"`
	Cases           int64  `json:"cases" db:"cases"`
	Relapses        int64  `json:"relapses" db:"relapses"`
	Classifications int64  `json:"classifications" db:"classifications"`
}

// Settings echo the configuration a report was computed with.
type Settings struct {
	SLASeconds          float64            `json:"sla_seconds"`
	SLAByClassification map[string]float64 `json:"sla_by_classification_seconds,omitempty"`
	RelapseWindowSecs   float64            `json:"relapse_window_seconds"`
	NotActedReasons     []string           `json:"not_acted_reasons"`
}

// Report is a compliance report: the same document for `abusegw report
// --format json` and GET /api/v1/metrics/compliance.
type Report struct {
	From         *time.Time `json:"from"` // null: the beginning of time
	To           time.Time  `json:"to"`
	GroupBy      string     `json:"group_by"`
	Settings     Settings   `json:"settings"`
	Totals       Figures    `json:"totals"`
	Groups       []Group    `json:"groups"`
	TopOffenders []Offender `json:"top_offenders"`
}

func share(num, den int64) *float64 {
	if den == 0 {
		return nil
	}
	v := float64(num) / float64(den)
	return &v
}

func (f *Figures) finish() {
	f.ActedOnShare = share(f.CasesActedOn, f.CasesResolved)
	f.SLAShare = share(f.SLAMet, f.SLADue)
	f.RelapseRate = share(f.Relapses, f.CasesOpened)
	if f.ClosureReasons == nil {
		f.ClosureReasons = []ClosureReason{}
	}
}
