package ingest_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// benchRows and benchCustomers are the report's size; ABUSEGW_BENCH_ROWS
// and ABUSEGW_BENCH_CUSTOMERS shrink it for quick iterations.
var (
	benchRows      = envInt("ABUSEGW_BENCH_ROWS", 200_000)
	benchCustomers = envInt("ABUSEGW_BENCH_CUSTOMERS", 10_000)
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchData writes a contacts file of benchCustomers customers, each owning
// one /24 of 10.0.0.0/8, and a scan_dns report of benchRows rows spread over
// them (20 addresses per customer, one case each).
func benchData(b *testing.B) (contactsFile string, report []byte) {
	b.Helper()
	dir := b.TempDir()
	var c bytes.Buffer
	c.WriteString("network,customer,name,email\n")
	for i := range benchCustomers {
		fmt.Fprintf(&c, "10.%d.%d.0/24,c%05d,Customer %d,abuse@c%d.example\n", i/256, i%256, i, i, i)
	}
	contactsFile = filepath.Join(dir, "customers.csv")
	if err := os.WriteFile(contactsFile, c.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}

	f, err := os.Open(filepath.Join("testdata", "scan_dns.csv"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	header, _ := cr.Read()
	tmpl, err := cr.Read()
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(header)
	rec := slices.Clone(tmpl)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for r := range benchRows {
		cust := r % benchCustomers
		host := (r/benchCustomers)%254 + 1
		rec[0] = at.Add(time.Duration(r) * 100 * time.Millisecond).Format(time.DateTime)
		rec[1] = fmt.Sprintf("10.%d.%d.%d", cust/256, cust%256, host)
		rec[4] = fmt.Sprintf("host-%d.example.net", r)
		_ = w.Write(rec)
	}
	w.Flush()
	return contactsFile, buf.Bytes()
}

// BenchmarkIngest processes a 200,000-row Shadowserver scan report with
// 10,000 customers in a file contact source: 10,000 new cases, each with a
// create and a reply operation. Each iteration gets a fresh database and
// stores the report untimed; the timed part is Process (normalize, look up,
// route, aggregate, store events, enqueue).
func BenchmarkIngest(b *testing.B) {
	contactsFile, report := benchData(b)
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			var events int
			for b.Loop() {
				b.StopTimer()
				db := storetest.Open(b, d)
				s := defaultSetup()
				s.contactsFile = contactsFile
				h := newHarness(b, db, s)
				st, err := h.pipe.Store(context.Background(), ingest.Source{Channel: "file", Name: "2026-03-01-scan_dns.csv"}, bytes.NewReader(report))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				sum, err := h.pipe.Process(context.Background(), st.ID)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if sum.Events != benchRows || sum.NewCases != benchCustomers || sum.Unowned != 0 {
					b.Fatalf("summary %+v", sum)
				}
				events += sum.Events
				closeDB(b, db)
				b.StartTimer()
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// closeDB frees the iteration's database early (its cleanup runs again at
// the end, harmlessly).
func closeDB(b *testing.B, db *store.DB) {
	b.Helper()
	_ = db.Close()
}
