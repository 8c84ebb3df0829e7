package sync

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/gateway/store"
)

// MaxWebhookBody bounds a webhook request body.
const MaxWebhookBody = 1 << 20

// Receiver answers POST /webhooks/{connector}: it verifies the request
// through the connector, records each delivery (a repeat is recognised by its
// delivery id and changes nothing), answers 202, and applies the change
// behind it: it reads the ticket back through the helpdesk's API, since a
// webhook is a hint, not the truth.
type Receiver struct {
	db         *store.DB
	connectors map[string]connectors.Connector
	applier    *Applier
	now        func() time.Time
	log        *slog.Logger
	work       chan int64
	requests   *prometheus.CounterVec

	// Group commit: while Run runs, one writer records the deliveries of
	// concurrent requests in one transaction, instead of each request
	// competing for SQLite's write lock.
	writes chan recordReq
	mu     sync.Mutex
	done   chan struct{} // nil, or closed when the running writer stops
}

// recordReq is one delivery waiting for the writer.
type recordReq struct {
	connector string
	u         connectors.Update
	now       time.Time
	reply     chan recordRes
}

type recordRes struct {
	id  int64
	dup bool
	err error
}

// maxBatch bounds the deliveries recorded in one transaction.
const maxBatch = 256

// NewReceiver builds a Receiver. Call Run to apply deliveries.
func NewReceiver(db *store.DB, conns map[string]connectors.Connector, applier *Applier, now func() time.Time, log *slog.Logger, reg prometheus.Registerer) (*Receiver, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{
		db: db, connectors: conns, applier: applier, now: now, log: log,
		work:   make(chan int64, 1024),
		writes: make(chan recordReq),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abusegw_webhook_requests_total",
			Help: "Webhook requests, by connector and result (accepted, duplicate, unauthorized, bad_request, unknown_connector).",
		}, []string{"connector", "result"}),
	}
	if reg != nil {
		if err := reg.Register(r.requests); err != nil {
			return nil, fmt.Errorf("registering webhook metrics: %w", err)
		}
	}
	return r, nil
}

// Mount adds the webhook route to a router.
func (rc *Receiver) Mount(r gin.IRouter) {
	r.POST("/webhooks/:connector", rc.handle)
}

type deliveryPayload struct {
	Update connectors.Update `json:"update"`
}

func (rc *Receiver) handle(c *gin.Context) {
	name := c.Param("connector")
	conn, ok := rc.connectors[name]
	parser, isParser := conn.(connectors.WebhookParser)
	if !ok || !isParser {
		// An unknown name is a label value chosen by the caller: keep the
		// metric bounded.
		rc.requests.WithLabelValues("unknown", "unknown_connector").Inc()
		c.JSON(http.StatusNotFound, gin.H{"error": fmt.Sprintf("no connector %q that takes webhooks", name)})
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxWebhookBody)
	updates, err := parser.ParseWebhook(c.Request)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, connectors.ErrUnauthenticated):
			rc.requests.WithLabelValues(name, "unauthorized").Inc()
			rc.log.Warn("webhook refused", "connector", name, "remote", c.ClientIP(), "err", err)
			c.JSON(http.StatusUnauthorized, gin.H{"error": "unauthenticated webhook"})
		case errors.As(err, &tooBig):
			rc.requests.WithLabelValues(name, "bad_request").Inc()
			c.JSON(http.StatusRequestEntityTooLarge, gin.H{"error": fmt.Sprintf("body larger than %d bytes", tooBig.Limit)})
		default:
			rc.requests.WithLabelValues(name, "bad_request").Inc()
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
		}
		return
	}
	now := store.Time(rc.now())
	var accepted, duplicates int
	for _, u := range updates {
		id, dup, err := rc.record(c.Request.Context(), name, u, now)
		if err != nil {
			rc.log.Error("recording webhook delivery", "connector", name, "err", err)
			c.JSON(http.StatusInternalServerError, gin.H{"error": "could not record the delivery"})
			return
		}
		if dup {
			duplicates++
			continue
		}
		accepted++
		select {
		case rc.work <- id:
		default: // full: the sweep in Run picks it up from the database
		}
	}
	if accepted == 0 && duplicates > 0 {
		rc.requests.WithLabelValues(name, "duplicate").Inc()
		c.JSON(http.StatusOK, gin.H{"status": "duplicate"})
		return
	}
	rc.requests.WithLabelValues(name, "accepted").Inc()
	c.JSON(http.StatusAccepted, gin.H{"status": "accepted", "deliveries": accepted})
}

// record stores a delivery durably; dup reports that its id was seen
// before. While Run runs, the writer does it in a shared transaction;
// otherwise (tests, a stopping server) it is done here.
func (rc *Receiver) record(ctx context.Context, connector string, u connectors.Update, now time.Time) (int64, bool, error) {
	rc.mu.Lock()
	done := rc.done
	rc.mu.Unlock()
	if done != nil {
		req := recordReq{connector: connector, u: u, now: now, reply: make(chan recordRes, 1)}
		select {
		case rc.writes <- req:
			// The writer answers every request it took, even when stopping.
			res := <-req.reply
			return res.id, res.dup, res.err
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-done: // the writer stopped: record here
		}
	}
	var res recordRes
	err := rc.db.InTx(ctx, func(tx *sqlx.Tx) error {
		res = insertDelivery(ctx, tx, nil, connector, u, now)
		return res.err
	})
	if err != nil {
		return 0, false, err
	}
	return res.id, res.dup, nil
}

// insertDeliverySQL records one delivery; a repeat returns no row.
const insertDeliverySQL = `INSERT INTO webhook_deliveries (connector, delivery_id, received_at, payload)
	VALUES (?, ?, ?, ?) ON CONFLICT (connector, delivery_id) DO NOTHING RETURNING id`

// insertDelivery records one delivery in tx, through stmt when it is
// prepared already (parsing the statement costs more than running it).
func insertDelivery(ctx context.Context, tx *sqlx.Tx, stmt *sqlx.Stmt, connector string, u connectors.Update, now time.Time) recordRes {
	payload, err := json.Marshal(deliveryPayload{Update: u})
	if err != nil {
		return recordRes{err: err}
	}
	id := u.DeliveryID
	if id == "" {
		// No id from the helpdesk: the same content is the same delivery.
		sum := sha256.Sum256(payload)
		id = "sha256:" + hex.EncodeToString(sum[:16])
	}
	var rowID int64
	if stmt != nil {
		err = tx.StmtxContext(ctx, stmt).GetContext(ctx, &rowID, connector, id, now, string(payload))
	} else {
		err = tx.GetContext(ctx, &rowID, tx.Rebind(insertDeliverySQL), connector, id, now, string(payload))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return recordRes{dup: true}
	}
	if err != nil {
		return recordRes{err: fmt.Errorf("recording delivery %s: %w", id, err)}
	}
	return recordRes{id: rowID}
}

// writeLoop records deliveries in batches until ctx ends: it takes what
// requests are waiting, up to maxBatch, and commits them together, so that
// many concurrent webhooks cost one commit instead of one lock fight each.
func (rc *Receiver) writeLoop(ctx context.Context) {
	stmt, err := rc.db.PreparexContext(ctx, rc.db.Rebind(insertDeliverySQL))
	if err != nil {
		rc.log.Warn("preparing the delivery insert; recording without it", "err", err)
		stmt = nil
	} else {
		defer stmt.Close()
	}
	for {
		var first recordReq
		select {
		case <-ctx.Done():
			return
		case first = <-rc.writes:
		}
		batch := []recordReq{first}
	collect:
		for len(batch) < maxBatch {
			select {
			case r := <-rc.writes:
				batch = append(batch, r)
			default:
				break collect
			}
		}
		results := make([]recordRes, len(batch))
		err := rc.db.InTx(context.WithoutCancel(ctx), func(tx *sqlx.Tx) error {
			for i, r := range batch {
				results[i] = insertDelivery(ctx, tx, stmt, r.connector, r.u, r.now)
				if results[i].err != nil {
					return results[i].err
				}
			}
			return nil
		})
		for i, r := range batch {
			if err != nil {
				results[i] = recordRes{err: err}
			}
			r.reply <- results[i]
		}
	}
}

// Run applies recorded deliveries until ctx ends: those handed over by the
// handler at once, and every poll the ones left behind (a full queue, a
// crash, a helpdesk that did not answer).
func (rc *Receiver) Run(ctx context.Context, poll time.Duration) {
	if poll <= 0 {
		poll = 30 * time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	wctx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		rc.writeLoop(wctx)
	}()
	rc.mu.Lock()
	rc.done = writerDone
	rc.mu.Unlock()
	defer func() {
		stopWriter()
		<-writerDone
		rc.mu.Lock()
		rc.done = nil // requests from now on record directly
		rc.mu.Unlock()
	}()
	rc.Sweep(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-rc.work:
			rc.applyDelivery(ctx, id)
		case <-t.C:
			rc.Sweep(ctx)
		}
	}
}

// Sweep applies every delivery still waiting.
func (rc *Receiver) Sweep(ctx context.Context) {
	var ids []int64
	if err := rc.db.SelectContext(ctx, &ids, `SELECT id FROM webhook_deliveries WHERE state = 'received' ORDER BY id LIMIT 1000`); err != nil {
		if ctx.Err() == nil {
			rc.log.Error("listing webhook deliveries", "err", err)
		}
		return
	}
	for _, id := range ids {
		rc.applyDelivery(ctx, id)
	}
}

// applyDelivery reads the ticket back and applies it; a failure that may
// pass (the helpdesk did not answer) leaves the delivery for the next sweep.
func (rc *Receiver) applyDelivery(ctx context.Context, id int64) {
	var d struct {
		Connector string `db:"connector"`
		Delivery  string `db:"delivery_id"`
		Payload   string `db:"payload"`
		State     string `db:"state"`
	}
	if err := rc.db.GetContext(ctx, &d, rc.db.Rebind(`SELECT connector, delivery_id, payload, state FROM webhook_deliveries WHERE id = ?`), id); err != nil {
		rc.log.Error("loading webhook delivery", "id", id, "err", err)
		return
	}
	if d.State != "received" {
		return
	}
	var p deliveryPayload
	if err := json.Unmarshal([]byte(d.Payload), &p); err != nil {
		rc.finish(ctx, id, "failed", err.Error())
		return
	}
	conn, ok := rc.connectors[d.Connector]
	if !ok {
		rc.finish(ctx, id, "ignored", "connector no longer configured")
		return
	}
	t, err := conn.Get(ctx, p.Update.TicketID)
	if err != nil {
		if errors.Is(err, connectors.ErrNotFound) {
			err = rc.applier.MarkGone(ctx, d.Connector, p.Update.TicketID, err)
			if err == nil {
				rc.finish(ctx, id, "applied", "ticket gone")
			}
			return
		}
		if connectors.KindOf(err) == connectors.Permanent {
			rc.finish(ctx, id, "failed", err.Error())
			return
		}
		rc.log.Warn("reading ticket for a webhook; will try again", "connector", d.Connector, "ticket", p.Update.TicketID, "err", err)
		return
	}
	if t.ClosureReason == "" {
		t.ClosureReason = p.Update.ClosureReason
	}
	out, err := rc.applier.Apply(ctx, d.Connector, t, SourceWebhook, d.Delivery)
	if err != nil {
		rc.log.Error("applying webhook", "connector", d.Connector, "ticket", t.ID, "err", err)
		return
	}
	state := "applied"
	if out == OutcomeUnknown {
		state = "ignored"
	}
	rc.finish(ctx, id, state, string(out))
}

func (rc *Receiver) finish(ctx context.Context, id int64, state, note string) {
	_, err := rc.db.ExecContext(ctx, rc.db.Rebind(`UPDATE webhook_deliveries SET state = ?, error = ?, applied_at = ? WHERE id = ?`),
		state, note, store.Time(rc.now()), id)
	if err != nil {
		rc.log.Error("recording webhook delivery outcome", "id", id, "err", err)
	}
}
