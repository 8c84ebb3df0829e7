package outbox_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/rt/rttest"
	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// TestFaults runs cases through a fake RT that fails a share of requests in
// the ways a real one does. (The shares are bounded with Times: a fault on
// every second request can line up with an operation's two requests,
// FindByKey then Create, forever, and rightly end in the dead letter.) Whatever happens, each case ends with exactly
// one ticket, and each reply and update comment appears in it once.
func TestFaults(t *testing.T) {
	t.Parallel()
	post := http.MethodPost
	tests := []struct {
		name   string
		faults []rttest.Fault
		// afterFirst checks the outbox after the first drain.
		afterFirst func(t *testing.T, db *store.DB, now time.Time)
	}{
		{name: "500 on every third request", faults: []rttest.Fault{{Every: 3, Times: 12, Do: rttest.Fail, Status: 500}}},
		{name: "503 on every fourth request", faults: []rttest.Fault{{Every: 4, Times: 8, Do: rttest.Fail, Status: 503}}},
		// A proxy's 502/504 on a POST: the outcome is unknown.
		{name: "502 and 504 on POSTs", faults: []rttest.Fault{
			{Method: post, Every: 5, Times: 4, Do: rttest.Fail, Status: 502},
			{Method: post, Every: 3, Times: 6, Do: rttest.Fail, Status: 504}}},
		{name: "reset before every third request", faults: []rttest.Fault{{Every: 3, Times: 12, Do: rttest.ResetBefore}}},
		// RT performed the request; the connection died before the answer.
		{name: "reset after every second POST", faults: []rttest.Fault{{Method: post, Every: 2, Do: rttest.ResetAfter}}},
		{name: "reset after every create and message", faults: []rttest.Fault{
			{Method: post, Path: "/ticket", Times: 3, Do: rttest.ResetAfter},
			{Method: post, Path: "/ticket/*", Every: 2, Times: 6, Do: rttest.ResetAfter}}},
		{name: "429 with Retry-After", faults: []rttest.Fault{{Method: post, Path: "/ticket", Times: 1, Do: rttest.Fail, Status: 429, RetryAfter: "120"}},
			afterFirst: func(t *testing.T, db *store.DB, now time.Time) {
				rows, err := outbox.List(context.Background(), db, "retryable", 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) != 1 || rows[0].Attempt != 0 || !rows[0].ScheduledAt.UTC().Equal(now.Add(120*time.Second)) || rows[0].OutcomeUnknown {
					t.Fatalf("after a 429: %+v; want one create due at %v with no attempt used", rows, now.Add(120*time.Second))
				}
			}},
		// RT created the ticket, then the client timed out waiting.
		{name: "hang after create", faults: []rttest.Fault{{Method: post, Path: "/ticket", Times: 2, Do: rttest.HangAfter}},
			afterFirst: func(t *testing.T, db *store.DB, _ time.Time) {
				rows, err := outbox.List(context.Background(), db, "retryable", 0)
				if err != nil {
					t.Fatal(err)
				}
				unknown := 0
				for _, r := range rows {
					if r.Kind == outbox.KindCreate && r.OutcomeUnknown {
						unknown++
					}
				}
				if unknown != 2 {
					t.Fatalf("after two hung creates: %+v; want two creates with their outcome unknown", rows)
				}
			}},
		{name: "hang after messages", faults: []rttest.Fault{{Method: post, Path: "/ticket/*", Every: 2, Times: 4, Do: rttest.HangAfter}}},
		{name: "everything", faults: []rttest.Fault{
			{Method: post, Path: "/ticket", Times: 1, Do: rttest.HangAfter},
			{Method: post, Path: "/ticket", Times: 1, Do: rttest.Fail, Status: 429, RetryAfter: "7"},
			{Every: 5, Do: rttest.ResetAfter},
			{Every: 4, Do: rttest.Fail, Status: 500},
			{Every: 3, Do: rttest.ResetBefore}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				srv := rttest.New(t)
				clk := newClock()
				d, err := outbox.NewDispatcher(db, outbox.Config{MaxBackoff: time.Minute}, outbox.Options{
					Connectors: map[string]connectors.Connector{"rt": newRTClient(t, srv)},
					Now:        clk.Now, Jitter: half,
				})
				if err != nil {
					t.Fatal(err)
				}
				want := map[string][]string{}
				caseIDs := map[string]int64{}
				for _, key := range []string{"acme:dns", "globex:ntp", "initech:smb"} {
					caseIDs[key] = newCase(t, db, key)
					enqueue(t, db, clk.Peek(), caseOps(caseIDs[key], "rt", key)...)
					want[key] = []string{key + ":create:reply"}
				}
				for _, f := range tc.faults {
					srv.Inject(f)
				}
				if tc.afterFirst != nil {
					now := clk.Peek()
					if _, err := d.Drain(context.Background()); err != nil {
						t.Fatal(err)
					}
					tc.afterFirst(t, db, now)
				}
				drainAll(t, db, clk, d, 60)
				// A day later, the update comments.
				clk.Advance(24 * time.Hour)
				for key, id := range caseIDs {
					op := updateOp(id, "rt", key, clk.Peek())
					enqueue(t, db, clk.Peek(), op)
					want[key] = append(want[key], op.Key)
				}
				drainAll(t, db, clk, d, 60)
				for i, n := range srv.FaultHits() {
					if n == 0 {
						t.Errorf("fault %d (%+v) never hit", i, tc.faults[i])
					}
				}
				assertExactlyOnce(t, srv, db, want)
			})
		})
	}
}
