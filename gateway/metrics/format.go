package metrics

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Formats of WriteReport.
const (
	FormatTable = "table"
	FormatCSV   = "csv"
	FormatJSON  = "json"
)

// WriteReport writes rep as a terminal table, CSV (one row per group, then
// a "total" row; durations in seconds) or JSON (the API's document).
func WriteReport(w io.Writer, rep *Report, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case FormatCSV:
		return writeCSV(w, rep)
	case FormatTable, "":
		return writeTable(w, rep)
	}
	return fmt.Errorf("format %q: want table, csv or json", format)
}

// csvHeader names the CSV columns.
var csvHeader = []string{
	"group_by", "key", "label", "reports_received", "events_received", "events_unowned", "events_ignored",
	"cases_opened", "cases_notified", "cases_responded", "cases_resolved", "cases_acted_on", "acted_on_share",
	"cases_reopened", "reopens",
	"notify_median_s", "notify_p90_s", "notify_max_s",
	"response_median_s", "response_p90_s", "response_max_s",
	"resolve_median_s", "resolve_p90_s", "resolve_max_s",
	"sla_due", "sla_met", "sla_share",
	"open_lt_1d", "open_1d_3d", "open_3d_7d", "open_7d_30d", "open_gt_30d", "open_total",
	"relapses", "relapse_rate", "closure_reasons",
}

func writeCSV(w io.Writer, rep *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	groupBy := rep.GroupBy
	if groupBy == "" {
		groupBy = "none"
	}
	rows := make([]Group, 0, len(rep.Groups)+1)
	rows = append(rows, rep.Groups...)
	rows = append(rows, Group{Key: "total", Figures: rep.Totals})
	for i, g := range rows {
		gb := groupBy
		if i == len(rows)-1 {
			gb = "total"
		}
		f := g.Figures
		rec := []string{gb, g.Key, g.Label}
		for _, n := range []int64{f.ReportsReceived, f.EventsReceived, f.EventsUnowned, f.EventsIgnored,
			f.CasesOpened, f.CasesNotified, f.CasesResponded, f.CasesResolved, f.CasesActedOn} {
			rec = append(rec, strconv.FormatInt(n, 10))
		}
		rec = append(rec, num(f.ActedOnShare), strconv.FormatInt(f.CasesReopened, 10), strconv.FormatInt(f.Reopens, 10))
		for _, d := range []Durations{f.TimeToNotify, f.TimeToFirstResponse, f.TimeToResolve} {
			rec = append(rec, num(d.MedianSeconds), num(d.P90Seconds), num(d.MaxSeconds))
		}
		rec = append(rec, strconv.FormatInt(f.SLADue, 10), strconv.FormatInt(f.SLAMet, 10), num(f.SLAShare))
		a := f.OpenByAge
		for _, n := range []int64{a.Under1Day, a.Days1To3, a.Days3To7, a.Days7To30, a.Over30Days, a.Total, f.Relapses} {
			rec = append(rec, strconv.FormatInt(n, 10))
		}
		rec = append(rec, num(f.RelapseRate), reasonsText(f.ClosureReasons))
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func num(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

func reasonsText(rs []ClosureReason) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		name := r.Reason
		if name == "" {
			name = "(none)"
		}
		mark := ""
		if !r.ActedOn {
			mark = "*"
		}
		parts = append(parts, fmt.Sprintf("%s%s=%d", name, mark, r.Cases))
	}
	return strings.Join(parts, "; ")
}

func pct(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v*100, 'f', 1, 64) + "%"
}

// human renders seconds as a short duration: 45s, 12m, 3h20m, 2d4h.
func human(v *float64) string {
	if v == nil {
		return "-"
	}
	d := time.Duration(*v * float64(time.Second)).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

func durText(d Durations) string {
	return human(d.MedianSeconds) + " / " + human(d.P90Seconds) + " / " + human(d.MaxSeconds)
}

func writeTable(w io.Writer, rep *Report) error {
	from := "the beginning"
	if rep.From != nil {
		from = rep.From.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "Compliance report %s – %s", from, rep.To.Format(time.RFC3339))
	if rep.GroupBy != "" {
		fmt.Fprintf(w, ", by %s", rep.GroupBy)
	}
	fmt.Fprintf(w, " (SLA %s, relapse window %s)\n\n", time.Duration(rep.Settings.SLASeconds*float64(time.Second)),
		time.Duration(rep.Settings.RelapseWindowSecs*float64(time.Second)))

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	cols := []string{"REPORTS", "EVENTS", "OPENED", "NOTIFIED", "RESPONDED", "RESOLVED", "ACTED ON", "IN SLA", "RELAPSE", "REOPENED",
		"NOTIFY med/p90/max", "RESPONSE med/p90/max", "RESOLVE med/p90/max", "OPEN <1d/1-3d/3-7d/7-30d/>30d"}
	head := "\t" + strings.Join(cols, "\t") + "\t"
	if rep.GroupBy != "" {
		head = strings.ToUpper(rep.GroupBy) + head
	}
	fmt.Fprintln(tw, head)
	line := func(name string, f Figures) {
		a := f.OpenByAge
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d/%d/%d/%d/%d\t\n", name,
			f.ReportsReceived, f.EventsReceived, f.CasesOpened, f.CasesNotified, f.CasesResponded, f.CasesResolved,
			pct(f.ActedOnShare), pct(f.SLAShare), pct(f.RelapseRate), f.CasesReopened,
			durText(f.TimeToNotify), durText(f.TimeToFirstResponse), durText(f.TimeToResolve),
			a.Under1Day, a.Days1To3, a.Days3To7, a.Days7To30, a.Over30Days)
	}
	for _, g := range rep.Groups {
		name := g.Key
		if name == "" {
			name = "(none)"
		}
		if g.Label != "" {
			name += " (" + g.Label + ")"
		}
		line(name, g.Figures)
	}
	line("TOTAL", rep.Totals)
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nClosure reasons (* not acted on):")
	if len(rep.Totals.ClosureReasons) == 0 {
		fmt.Fprintln(w, "  none")
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rep.Totals.ClosureReasons {
		name := r.Reason
		if name == "" {
			name = "(none)"
		}
		if !r.ActedOn {
			name += " *"
		}
		fmt.Fprintf(tw, "  %s\t%d\n", name, r.Cases)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nTop repeat offenders:")
	if len(rep.TopOffenders) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CUSTOMER\tNAME\tCASES\tRELAPSES\tCLASSIFICATIONS")
	for _, o := range rep.TopOffenders {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\n", o.Customer, o.Name, o.Cases, o.Relapses, o.Classifications)
	}
	return tw.Flush()
}
