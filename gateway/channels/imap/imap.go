// Package imap is the mailbox channel: it polls IMAP mailboxes (waking
// early by IDLE where the server offers it), stores every new message through
// the ingest pipeline, and only then flags it \Seen or moves it to a folder.
//
// Which messages are new is kept in the cursors table as the mailbox's
// UIDVALIDITY and the highest UID already handled. A crash between storing a
// message and flagging it means the message is fetched again on the next
// poll; its bytes are then recognised by their SHA-256 and nothing is
// ingested twice. A changed UIDVALIDITY makes the poller go through the whole
// mailbox again, with the same guarantee.
package imap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/store"
)

// Channel is the ingest channel name of reports from mailboxes.
const Channel = "imap"

// Options are a Poller's surroundings.
type Options struct {
	DB       *store.DB
	Pipeline *ingest.Pipeline
	Logger   *slog.Logger
	// Now is the clock of the cursors table; nil means time.Now.
	Now func() time.Time
	// AfterStore, if set, is called once a message is durably stored and
	// processed, before it is flagged or moved; an error stops the poll
	// there, as a crash would (tests).
	AfterStore func(mailbox string, uid uint32) error
	// OnPoll, if set, is told the outcome of every poll of Run (tests).
	OnPoll func(mailbox string, r Result, err error)
}

// Poller polls the mailboxes of one account.
type Poller struct {
	cfg  Config
	o    Options
	log  *slog.Logger
	now  func() time.Time
	tlsc *tls.Config
}

// Result counts what one poll of a mailbox did.
type Result struct {
	Fetched    int // messages fetched
	New        int // of those, stored for the first time
	Duplicates int // already stored before (a crash before flagging, a copy)
	Failed     int // whose report failed or was not recognised
	Events     int // events the new reports produced
}

// New checks the account's configuration and builds its poller. The
// password is read at each login, so a rotated secret file is picked up.
func New(cfg Config, o Options) (*Poller, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.DB == nil || o.Pipeline == nil {
		return nil, errors.New("imap: DB and Pipeline are required")
	}
	p := &Poller{cfg: cfg, o: o, log: o.Logger, now: o.Now}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("imap", cfg.Name)
	if p.now == nil {
		p.now = time.Now
	}
	if cfg.TLS != TLSNone {
		host, _, _ := net.SplitHostPort(cfg.Address)
		p.tlsc = &tls.Config{
			ServerName:         host,
			InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // opt-in, off by default
			MinVersion:         tls.VersionTLS12,
		}
		if cfg.ServerName != "" {
			p.tlsc.ServerName = cfg.ServerName
		}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("imap %s: ca_file: %w", cfg.Name, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("imap %s: ca_file %s: no PEM certificate in it", cfg.Name, cfg.CAFile)
			}
			p.tlsc.RootCAs = pool
		}
	}
	return p, nil
}

// Config returns the account's configuration with its defaults.
func (p *Poller) Config() Config { return p.cfg }

// conn is one logged-in connection.
type conn struct {
	c    *imapclient.Client
	wake chan struct{} // a token when the server reports new messages
	stop func() bool   // releases the context watch
}

func (cn *conn) close() {
	cn.stop()
	_ = cn.c.Close()
}

// dial connects and logs in. The connection is closed when ctx ends, which
// unblocks any command in flight.
func (p *Poller) dial(ctx context.Context) (*conn, error) {
	password, err := p.cfg.Password().Resolve()
	if err != nil {
		return nil, fmt.Errorf("imap %s: password: %w", p.cfg.Name, err)
	}
	wake := make(chan struct{}, 1)
	opts := &imapclient.Options{
		TLSConfig: p.tlsc,
		Dialer:    &net.Dialer{Timeout: p.cfg.Timeout},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	var c *imapclient.Client
	switch p.cfg.TLS {
	case TLSImplicit:
		c, err = imapclient.DialTLS(p.cfg.Address, opts)
	case TLSStartTLS:
		c, err = imapclient.DialStartTLS(p.cfg.Address, opts)
	default:
		c, err = imapclient.DialInsecure(p.cfg.Address, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("imap %s: connecting to %s: %w", p.cfg.Name, p.cfg.Address, err)
	}
	cn := &conn{c: c, wake: wake, stop: context.AfterFunc(ctx, func() { _ = c.Close() })}
	if err := c.WaitGreeting(); err != nil {
		cn.close()
		return nil, fmt.Errorf("imap %s: greeting: %w", p.cfg.Name, ctxErr(ctx, err))
	}
	if err := c.Login(p.cfg.User, password).Wait(); err != nil {
		cn.close()
		return nil, fmt.Errorf("imap %s: login as %s: %w", p.cfg.Name, p.cfg.User, ctxErr(ctx, err))
	}
	return cn, nil
}

// ctxErr prefers the context's error over the closed connection's.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Check logs in and examines every mailbox (and the folders messages move
// to), changing nothing.
func (p *Poller) Check(ctx context.Context) error {
	cn, err := p.dial(ctx)
	if err != nil {
		return err
	}
	defer cn.close()
	var errs []error
	for _, m := range p.cfg.Mailboxes {
		if _, err := cn.c.Select(m, &goimap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("mailbox %s: %w", m, ctxErr(ctx, err)))
		}
	}
	if err := cn.c.Logout().Wait(); err != nil && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("logout: %w", err))
	}
	return errors.Join(errs...)
}

// PollOnce connects, handles every new message of mailbox, and logs out.
func (p *Poller) PollOnce(ctx context.Context, mailbox string) (Result, error) {
	cn, err := p.dial(ctx)
	if err != nil {
		return Result{}, err
	}
	defer cn.close()
	if err := p.prepare(ctx, cn); err != nil {
		return Result{}, err
	}
	r, err := p.poll(ctx, cn, mailbox)
	if err != nil {
		return r, err
	}
	if err := cn.c.Logout().Wait(); err != nil {
		p.log.Debug("logout", "err", err)
	}
	return r, nil
}

// Run polls mailbox until ctx ends: at the interval, and as soon as IDLE
// reports a new message where the server offers it. Errors are logged and
// the connection is made again after the interval.
func (p *Poller) Run(ctx context.Context, mailbox string) {
	for ctx.Err() == nil {
		err := p.session(ctx, mailbox)
		if ctx.Err() != nil {
			return
		}
		p.log.Error("mailbox poll failed; retrying", "mailbox", mailbox, "err", err, "in", p.cfg.Interval)
		t := time.NewTimer(p.cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// session is one connection of Run: poll, wait, poll again, until an
// error or the end of ctx.
func (p *Poller) session(ctx context.Context, mailbox string) error {
	cn, err := p.dial(ctx)
	if err != nil {
		return err
	}
	defer cn.close()
	if err := p.prepare(ctx, cn); err != nil {
		return err
	}
	idle := !p.cfg.DisableIdle && cn.c.Caps().Has(goimap.CapIdle)
	for {
		r, err := p.poll(ctx, cn, mailbox)
		if p.o.OnPoll != nil {
			p.o.OnPoll(mailbox, r, err)
		}
		if err != nil {
			return err
		}
		if r.Fetched > 0 {
			p.log.Info("mailbox polled", "mailbox", mailbox, "fetched", r.Fetched, "new", r.New,
				"duplicates", r.Duplicates, "failed", r.Failed, "events", r.Events)
		}
		if err := p.wait(ctx, cn, idle); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// wait returns after the interval, or earlier when IDLE reports a change.
func (p *Poller) wait(ctx context.Context, cn *conn, idle bool) error {
	t := time.NewTimer(p.cfg.Interval)
	defer t.Stop()
	if !idle {
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-cn.c.Closed():
			return errors.New("connection closed by the server")
		}
		return nil
	}
	cmd, err := cn.c.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", ctxErr(ctx, err))
	}
	select {
	case <-ctx.Done():
		return nil
	case <-t.C:
	case <-cn.wake:
	case <-cn.c.Closed():
		return errors.New("connection closed by the server")
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("ending idle: %w", ctxErr(ctx, err))
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("ending idle: %w", ctxErr(ctx, err))
	}
	return nil
}

// prepare creates the folders messages move to, where missing.
func (p *Poller) prepare(ctx context.Context, cn *conn) error {
	var folders []string
	if p.cfg.After == AfterMove {
		folders = append(folders, p.cfg.ProcessedFolder)
	}
	if p.cfg.FailedFolder != "" {
		folders = append(folders, p.cfg.FailedFolder)
	}
	for _, f := range folders {
		err := cn.c.Create(f, nil).Wait()
		var ie *goimap.Error
		if err == nil || errors.As(err, &ie) && (ie.Code == goimap.ResponseCodeAlreadyExists ||
			strings.Contains(strings.ToLower(ie.Text), "exists")) {
			continue
		}
		return fmt.Errorf("imap %s: creating folder %s: %w", p.cfg.Name, f, ctxErr(ctx, err))
	}
	return nil
}

// cursorName is the mailbox's row in the cursors table.
func (p *Poller) cursorName(mailbox string) string {
	return "imap:" + p.cfg.Name + ":" + mailbox
}

// poll handles the new messages of mailbox on a logged-in connection.
func (p *Poller) poll(ctx context.Context, cn *conn, mailbox string) (Result, error) {
	var r Result
	sel, err := cn.c.Select(mailbox, nil).Wait()
	if err != nil {
		return r, fmt.Errorf("imap %s: selecting %s: %w", p.cfg.Name, mailbox, ctxErr(ctx, err))
	}
	name := p.cursorName(mailbox)
	cur, err := loadCursor(ctx, p.o.DB, name)
	if err != nil {
		return r, err
	}
	if cur.validity != sel.UIDValidity {
		if cur.validity != 0 {
			p.log.Warn("UIDVALIDITY changed: going through the whole mailbox again (stored messages are recognised)",
				"mailbox", mailbox, "was", cur.validity, "now", sel.UIDValidity)
		}
		cur = cursor{validity: sel.UIDValidity}
	}
	if sel.NumMessages == 0 {
		return r, nil
	}
	criteria := &goimap.SearchCriteria{
		UID:     []goimap.UIDSet{{{Start: goimap.UID(cur.uid + 1), Stop: 0}}},
		NotFlag: []goimap.Flag{goimap.FlagDeleted},
	}
	found, err := cn.c.UIDSearch(criteria, nil).Wait()
	if err != nil {
		return r, fmt.Errorf("imap %s: searching %s: %w", p.cfg.Name, mailbox, ctxErr(ctx, err))
	}
	for _, uid := range found.AllUIDs() {
		// "N:*" matches the last message even when its UID is below N.
		if uint32(uid) <= cur.uid {
			continue
		}
		if err := p.handle(ctx, cn, mailbox, uid, &r); err != nil {
			return r, err
		}
		cur.uid = uint32(uid)
		if err := saveCursor(ctx, p.o.DB, name, cur, p.now()); err != nil {
			return r, err
		}
	}
	return r, nil
}

// handle fetches, stores and processes one message, then flags or moves it.
func (p *Poller) handle(ctx context.Context, cn *conn, mailbox string, uid goimap.UID, r *Result) error {
	src := ingest.Source{Channel: Channel, Name: mailbox + "/" + strconv.FormatUint(uint64(uid), 10), ContentType: "message/rfc822"}
	st, found, err := p.store(ctx, cn, uid, src)
	if errors.Is(err, ingest.ErrTooLarge) {
		// Refused, and it will be every time: left in the mailbox (in the
		// failed folder, if there is one) for a person, so that it does not
		// hold up the messages after it.
		r.Fetched++
		r.Failed++
		p.log.Warn("message larger than ingest.max_report: not stored, left in the mailbox", "mailbox", mailbox, "uid", uint32(uid), "err", err)
		return p.done(ctx, cn, goimap.UIDSetNum(uid), true, src.Name)
	}
	if err != nil {
		return err
	}
	if !found {
		return nil // expunged meanwhile
	}
	r.Fetched++
	if st.Duplicate {
		r.Duplicates++
	} else {
		r.New++
	}
	// A duplicate whose processing was interrupted is completed here.
	sum, err := p.o.Pipeline.Process(ctx, st.ID)
	if err != nil {
		return fmt.Errorf("imap %s: processing %s: %w", p.cfg.Name, src.Name, err)
	}
	r.Events += sum.Events
	var status string
	if err := p.o.DB.GetContext(ctx, &status, p.o.DB.Rebind(`SELECT status FROM reports WHERE id = ?`), st.ID); err != nil {
		return fmt.Errorf("imap %s: reading the status of report %d: %w", p.cfg.Name, st.ID, err)
	}
	if p.o.AfterStore != nil {
		if err := p.o.AfterStore(mailbox, uint32(uid)); err != nil {
			return err
		}
	}
	failed := status == "failed" || status == "unrecognized"
	if failed {
		r.Failed++
		p.log.Warn("message not processed", "mailbox", mailbox, "uid", uint32(uid), "report", st.ID, "status", status)
	}
	return p.done(ctx, cn, goimap.UIDSetNum(uid), failed, src.Name)
}

// done flags or moves a handled message (a failed one to the failed folder,
// when there is one).
func (p *Poller) done(ctx context.Context, cn *conn, set goimap.UIDSet, failed bool, name string) error {
	var err error
	switch {
	case failed && p.cfg.FailedFolder != "":
		err = p.move(cn, set, p.cfg.FailedFolder)
	case p.cfg.After == AfterMove:
		err = p.move(cn, set, p.cfg.ProcessedFolder)
	default:
		err = cn.c.Store(set, &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagSeen}}, nil).Close()
	}
	if err != nil {
		return fmt.Errorf("imap %s: marking %s done: %w", p.cfg.Name, name, ctxErr(ctx, err))
	}
	return nil
}

func (p *Poller) move(cn *conn, set goimap.UIDSet, folder string) error {
	_, err := cn.c.Move(set, folder).Wait()
	return err
}

// store streams one message's raw bytes into the pipeline's storage.
func (p *Poller) store(ctx context.Context, cn *conn, uid goimap.UID, src ingest.Source) (ingest.Stored, bool, error) {
	// BODY.PEEK[] leaves \Seen alone: only a stored message is flagged.
	cmd := cn.c.Fetch(goimap.UIDSetNum(uid), &goimap.FetchOptions{
		UID:         true,
		BodySection: []*goimap.FetchItemBodySection{{Peek: true}},
	})
	defer cmd.Close()
	var st ingest.Stored
	found := false
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var body io.Reader
		var msgUID goimap.UID
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				msgUID = it.UID
			case imapclient.FetchItemDataBodySection:
				if msgUID == uid && !found {
					body = it.Literal
					var err error
					st, err = p.o.Pipeline.Store(ctx, src, body)
					if err != nil {
						return st, false, fmt.Errorf("imap %s: storing %s: %w", p.cfg.Name, src.Name, err)
					}
					found = true
				}
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return st, false, fmt.Errorf("imap %s: fetching %s: %w", p.cfg.Name, src.Name, ctxErr(ctx, err))
	}
	return st, found, nil
}
