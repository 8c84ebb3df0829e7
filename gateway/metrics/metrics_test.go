package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/metrics"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// cfg is the configuration of the fixture's expectations: a 72 h SLA, 96 h
// for spam, a 30-day relapse window, the default not-acted reasons.
var cfg = metrics.Config{SLAByClassification: map[string]time.Duration{"spam": 96 * time.Hour}}

func f(v float64) *float64 { return &v }

func dur(n int64, med, p90, max float64) metrics.Durations {
	return metrics.Durations{Count: n, MedianSeconds: f(med), P90Seconds: f(p90), MaxSeconds: f(max)}
}

const h = 3600.0

// November's figures of the fixture, worked by hand (see fixture_test.go):
// cohort c1 c2 c3 c4 c5 c8 c10 c11 c12; c6 open from October; c7 closed in
// October; c9 in December.
var wantTotals = metrics.Figures{
	ReportsReceived: 2, EventsReceived: 5, EventsUnowned: 1, EventsIgnored: 1,
	CasesOpened: 9, CasesNotified: 5, CasesResponded: 3, CasesResolved: 3, CasesActedOn: 2, ActedOnShare: f(2.0 / 3),
	CasesReopened: 1, Reopens: 1,
	// notify: 0.5 h, 1 h, 1 h, 2 h, 6 h; p90 at rank 3.6: 2 h + 0.6 × 4 h.
	TimeToNotify: dur(5, 1*h, 4.4*h, 6*h),
	// response: 1 h, 4 h, 8 h; p90 at rank 1.8: 4 h + 0.8 × 4 h.
	TimeToFirstResponse: dur(3, 4*h, 7.2*h, 8*h),
	// resolve: 10 h, 44 h, 96 h; p90: 44 h + 0.8 × 52 h.
	TimeToResolve: dur(3, 44*h, 85.6*h, 96*h),
	// due: c1 c2 c4 (resolved), c3 c5 c8 (older than 72 h); c11 is spam (96 h).
	SLADue: 6, SLAMet: 2, SLAShare: f(2.0 / 6),
	OpenByAge: metrics.AgeBuckets{Under1Day: 1, Days1To3: 1, Days3To7: 1, Days7To30: 3, Over30Days: 1, Total: 7},
	// c2 (after c1), c3 (after c2), c10 (after c4); c8 is 36 days after c7.
	Relapses: 3, RelapseRate: f(3.0 / 9),
	ClosureReasons: []metrics.ClosureReason{{Reason: "", ActedOn: true, Cases: 1}, {Reason: "No Response", ActedOn: false, Cases: 1}, {Reason: "fixed", ActedOn: true, Cases: 1}},
}

var wantByCustomer = []metrics.Group{
	{Key: "", Figures: metrics.Figures{
		ReportsReceived: 2, EventsReceived: 2, EventsUnowned: 1, EventsIgnored: 1, CasesOpened: 1,
		TimeToNotify: metrics.Durations{}, TimeToFirstResponse: metrics.Durations{}, TimeToResolve: metrics.Durations{},
		OpenByAge: metrics.AgeBuckets{Days1To3: 1, Total: 1}, RelapseRate: f(0), ClosureReasons: []metrics.ClosureReason{},
	}},
	{Key: "A", Label: "Customer A", Figures: metrics.Figures{
		ReportsReceived: 1, EventsReceived: 2,
		CasesOpened: 3, CasesNotified: 2, CasesResponded: 2, CasesResolved: 2, CasesActedOn: 1, ActedOnShare: f(0.5),
		TimeToNotify:        dur(2, 1.25*h, 1.85*h, 2*h),
		TimeToFirstResponse: dur(2, 2.5*h, 3.7*h, 4*h),
		TimeToResolve:       dur(2, 53*h, 87.4*h, 96*h),
		SLADue:              3, SLAMet: 1, SLAShare: f(1.0 / 3),
		OpenByAge: metrics.AgeBuckets{Days7To30: 1, Total: 1},
		Relapses:  2, RelapseRate: f(2.0 / 3),
		ClosureReasons: []metrics.ClosureReason{{Reason: "No Response", ActedOn: false, Cases: 1}, {Reason: "fixed", ActedOn: true, Cases: 1}},
	}},
	{Key: "B", Label: "Customer B", Figures: metrics.Figures{
		ReportsReceived: 1, EventsReceived: 1,
		CasesOpened: 4, CasesNotified: 3, CasesResponded: 1, CasesResolved: 1, CasesActedOn: 1, ActedOnShare: f(1),
		CasesReopened: 1, Reopens: 1,
		TimeToNotify:        dur(3, 1*h, 5*h, 6*h),
		TimeToFirstResponse: dur(1, 8*h, 8*h, 8*h),
		TimeToResolve:       dur(1, 44*h, 44*h, 44*h),
		SLADue:              2, SLAMet: 1, SLAShare: f(0.5),
		OpenByAge: metrics.AgeBuckets{Under1Day: 1, Days3To7: 1, Days7To30: 1, Total: 3},
		Relapses:  1, RelapseRate: f(0.25),
		ClosureReasons: []metrics.ClosureReason{{Reason: "", ActedOn: true, Cases: 1}},
	}},
	{Key: "C", Label: "Customer C", Figures: metrics.Figures{
		CasesOpened: 1, SLADue: 1, SLAShare: f(0),
		OpenByAge:   metrics.AgeBuckets{Days7To30: 1, Over30Days: 1, Total: 2},
		RelapseRate: f(0), ClosureReasons: []metrics.ClosureReason{},
	}},
}

// brief is the part of a group's figures checked for the other groupings.
type brief struct {
	Key                                         string
	Events, Opened, Notified, Resolved, ActedOn int64
	Relapses, Open                              int64
	MedianResolve, P90Resolve                   *float64
}

func briefOf(g metrics.Group) brief {
	return brief{g.Key, g.EventsReceived, g.CasesOpened, g.CasesNotified, g.CasesResolved, g.CasesActedOn,
		g.Relapses, g.OpenByAge.Total, g.TimeToResolve.MedianSeconds, g.TimeToResolve.P90Seconds}
}

var wantBrief = map[metrics.GroupBy][]brief{
	metrics.GroupClassification: {
		{"botnet", 1, 3, 3, 1, 1, 1, 2, f(44 * h), f(44 * h)},
		{"open-dns", 2, 4, 2, 2, 1, 2, 3, f(53 * h), f(87.4 * h)},
		{"scan", 1, 1, 0, 0, 0, 0, 1, nil, nil},
		{"spam", 0, 1, 0, 0, 0, 0, 1, nil, nil},
		{"x", 1, 0, 0, 0, 0, 0, 0, nil, nil},
	},
	metrics.GroupFeed: {
		{"f1", 3, 5, 2, 2, 1, 2, 3, f(53 * h), f(87.4 * h)},
		{"f2", 2, 4, 3, 1, 1, 1, 4, f(44 * h), f(44 * h)},
	},
	metrics.GroupConnector: {
		{"", 2, 1, 0, 0, 0, 0, 1, nil, nil},
		{"jira", 1, 3, 3, 1, 1, 1, 2, f(44 * h), f(44 * h)},
		{"rt", 2, 5, 2, 2, 1, 2, 4, f(53 * h), f(87.4 * h)},
	},
}

var wantOffenders = []metrics.Offender{
	{Customer: "B", Name: "Customer B", Cases: 4, Relapses: 1, Classifications: 2},
	{Customer: "A", Name: "Customer A", Cases: 3, Relapses: 2, Classifications: 1},
}

var november = metrics.Query{From: ts("2026-11-01 00:00"), To: ts("2026-12-01 00:00")}

func compute(t *testing.T, db *store.DB, q metrics.Query) *metrics.Report {
	t.Helper()
	rep, err := metrics.Compute(context.Background(), db, cfg, q, ts("2027-01-15 00:00"))
	if err != nil {
		t.Fatalf("Compute(%+v): %v", q, err)
	}
	return rep
}

// eq compares two values through JSON, which shows pointers' values.
func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("%s:\ngot  %s\nwant %s", what, g, w)
	}
}

func TestComputeExactFigures(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		load(t, db)
		for _, g := range []metrics.GroupBy{metrics.GroupNone, metrics.GroupCustomer, metrics.GroupClassification, metrics.GroupFeed, metrics.GroupConnector} {
			t.Run("group="+string(g), func(t *testing.T) {
				q := november
				q.GroupBy = g
				rep := compute(t, db, q)
				eq(t, "totals", rep.Totals, wantTotals)
				eq(t, "top offenders", rep.TopOffenders, wantOffenders)
				if rep.From == nil || !rep.From.Equal(q.From) || !rep.To.Equal(q.To) || rep.GroupBy != string(g) {
					t.Errorf("period/grouping echoed as %v %v %q", rep.From, rep.To, rep.GroupBy)
				}
				switch g {
				case metrics.GroupNone:
					if len(rep.Groups) != 0 {
						t.Errorf("ungrouped report has %d groups", len(rep.Groups))
					}
				case metrics.GroupCustomer:
					eq(t, "groups", rep.Groups, wantByCustomer)
				default:
					var got []brief
					for _, gr := range rep.Groups {
						got = append(got, briefOf(gr))
					}
					eq(t, "groups", got, wantBrief[g])
				}
			})
		}
	})
}

func TestComputeEmptyPeriodAndDefaults(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// An empty database, and a period before anything happened.
		for _, loaded := range []bool{false, true} {
			if loaded {
				load(t, db)
			}
			for _, g := range []metrics.GroupBy{metrics.GroupNone, metrics.GroupCustomer} {
				rep := compute(t, db, metrics.Query{From: ts("2025-01-01 00:00"), To: ts("2025-02-01 00:00"), GroupBy: g})
				want := metrics.Figures{ClosureReasons: []metrics.ClosureReason{}}
				eq(t, "empty totals", rep.Totals, want)
				if len(rep.Groups) != 0 || len(rep.TopOffenders) != 0 {
					t.Errorf("empty period: groups %v, offenders %v", rep.Groups, rep.TopOffenders)
				}
				b, err := json.Marshal(rep)
				if err != nil {
					t.Fatal(err)
				}
				var back map[string]any
				if err := json.Unmarshal(b, &back); err != nil {
					t.Fatalf("JSON does not parse: %v", err)
				}
				if back["groups"] == nil || back["top_offenders"] == nil || back["from"] == nil {
					t.Errorf("empty lists must be [], not null: %s", b)
				}
			}
		}
		// No To: the clock's now. No From: the beginning of time (October's
		// cases join the cohort: c6, c7).
		rep, err := metrics.Compute(ctx, db, cfg, metrics.Query{}, ts("2026-12-01 00:00"))
		if err != nil {
			t.Fatal(err)
		}
		if rep.From != nil || !rep.To.Equal(ts("2026-12-01 00:00")) {
			t.Errorf("period %v–%v, want beginning–2026-12-01", rep.From, rep.To)
		}
		if rep.Totals.CasesOpened != 11 || rep.Totals.CasesResolved != 4 || rep.Totals.OpenByAge.Total != 7 || rep.Totals.ReportsReceived != 3 {
			t.Errorf("all time until 2026-12-01: opened %d resolved %d open %d reports %d, want 11 4 7 3",
				rep.Totals.CasesOpened, rep.Totals.CasesResolved, rep.Totals.OpenByAge.Total, rep.Totals.ReportsReceived)
		}
		// Later, c5 is resolved and c9 has arrived: the same November cohort
		// now counts c5 as resolved (fixed, 30 days: outside the SLA).
		rep, err = metrics.Compute(ctx, db, cfg, metrics.Query{From: november.From}, ts("2027-01-15 00:00"))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Totals.CasesOpened != 10 || rep.Totals.CasesResolved != 4 || rep.Totals.CasesResponded != 4 || rep.Totals.SLAMet != 2 {
			t.Errorf("November onwards, seen in January: opened %d resolved %d responded %d SLA met %d, want 10 4 4 2",
				rep.Totals.CasesOpened, rep.Totals.CasesResolved, rep.Totals.CasesResponded, rep.Totals.SLAMet)
		}
	})
}

func TestComputeRejectsBadQueries(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  metrics.Config
		q    metrics.Query
		bad  bool // ErrBadQuery, else a configuration error
	}{
		{"group", cfg, metrics.Query{GroupBy: "ip"}, true},
		{"reversed period", cfg, metrics.Query{From: ts("2026-12-01 00:00"), To: ts("2026-11-01 00:00")}, true},
		{"empty period", cfg, metrics.Query{From: ts("2026-12-01 00:00"), To: ts("2026-12-01 00:00")}, true},
		{"negative sla", metrics.Config{SLA: -time.Hour}, metrics.Query{}, false},
		{"zero sla override", metrics.Config{SLAByClassification: map[string]time.Duration{"x": 0}}, metrics.Query{}, false},
	} {
		_, err := metrics.Compute(ctx, db, tc.cfg, tc.q, ts("2026-12-01 00:00"))
		if err == nil || errors.Is(err, metrics.ErrBadQuery) != tc.bad {
			t.Errorf("%s: err %v, want an error (bad query: %v)", tc.name, err, tc.bad)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"2026-11-01", ts("2026-11-01 00:00"), true},
		{"2026-11-01T12:30:00+02:00", ts("2026-11-01 10:30"), true},
		{"2026-13-01", time.Time{}, false},
		{"yesterday", time.Time{}, false},
	} {
		got, err := metrics.ParseTime(tc.in)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v", tc.in, got, err)
		}
	}
	for in, want := range map[string]metrics.GroupBy{"": metrics.GroupNone, "none": metrics.GroupNone, "Customer": metrics.GroupCustomer, "feed": metrics.GroupFeed} {
		if got, err := metrics.ParseGroupBy(in); err != nil || got != want {
			t.Errorf("ParseGroupBy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := metrics.ParseGroupBy("ip"); err == nil {
		t.Error("ParseGroupBy(ip): no error")
	}
}
