// Package httpapi is the HTTP ingest channel of `abusegw serve`: reports
// posted to POST /api/v1/reports (raw or multipart) are stored before the
// answer (202) and processed behind it by a bounded worker queue; IntelMQ
// events posted to POST /api/v1/events are stored and processed before the
// answer; GET /api/v1/reports/{id} tells how a report's processing went.
// Every request needs a bearer token from http.tokens; without tokens the
// endpoints are disabled. The OpenAPI document of the whole HTTP API is at
// GET /api/v1/openapi.json.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/abusegw/abusegw/gateway/api"
	"github.com/abusegw/abusegw/gateway/config"
	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/normalizer/shadowserver"
)

// Pipeline is the part of *ingest.Pipeline the API uses.
type Pipeline interface {
	Store(ctx context.Context, src ingest.Source, r io.Reader) (ingest.Stored, error)
	Process(ctx context.Context, reportID int64) (ingest.Summary, error)
}

var _ Pipeline = (*ingest.Pipeline)(nil)

// Options configure the API.
type Options struct {
	Pipeline Pipeline
	// DB is read for report status.
	DB *store.DB
	// Tokens are the accepted bearer tokens (http.tokens); their secrets
	// are resolved by New. None disables the ingest endpoints.
	Tokens []config.Token
	// MaxBodyBytes bounds a request body (http.max_report_bytes). Default
	// 256 MiB.
	MaxBodyBytes int64
	// ReportType resolves a Shadowserver report type as ?type= gives it
	// (schema key, file name or feed name) to the name Shadowserver uses in
	// its file names; nil refuses ?type=.
	ReportType func(string) (string, bool)
	// Workers process stored reports in the background. Default 2.
	Workers int
	// Queue is how many stored reports may wait for a worker; when it is
	// full a report waits for the periodic pending-report run instead.
	// Default 1024.
	Queue  int
	Logger *slog.Logger
	// Processed, if set, is called after a worker processed a report (for
	// tests).
	Processed func(id int64, err error)
}

// token is an accepted bearer token, kept as its SHA-256 so that every
// comparison takes the same time whatever the length of the guess.
type token struct {
	name string
	sum  [sha256.Size]byte
}

// API is the HTTP ingest channel.
type API struct {
	pipe       Pipeline
	db         *store.DB
	tokens     []token
	maxBody    int64
	reportType func(string) (string, bool)
	workers    int
	queue      chan int64
	log        *slog.Logger
	processed  func(int64, error)
}

// New builds the API, resolving the tokens' secrets.
func New(o Options) (*API, error) {
	if o.Pipeline == nil || o.DB == nil {
		return nil, errors.New("httpapi: Pipeline and DB are required")
	}
	a := &API{
		pipe: o.Pipeline, db: o.DB, maxBody: o.MaxBodyBytes, reportType: o.ReportType,
		workers: o.Workers, log: o.Logger, processed: o.Processed,
	}
	if a.maxBody <= 0 {
		a.maxBody = 256 << 20
	}
	if a.workers <= 0 {
		a.workers = 2
	}
	if o.Queue <= 0 {
		o.Queue = 1024
	}
	a.queue = make(chan int64, o.Queue)
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	for i, t := range o.Tokens {
		v, err := t.Secret().Resolve()
		if err == nil && v == "" {
			err = errors.New("no token given")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("http.tokens[%d] (%s): %w", i, t.Name, err))
			continue
		}
		a.tokens = append(a.tokens, token{name: t.Name, sum: sha256.Sum256([]byte(v))})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a, nil
}

// Mount adds the API's routes; it fits api.Deps.Mount.
func (a *API) Mount(r gin.IRouter) {
	r.GET("/api/v1/openapi.json", serveOpenAPI)
	g := r.Group("/api/v1", a.auth)
	g.POST("/reports", a.postReports)
	g.GET("/reports/:id", a.getReport)
	g.POST("/events", a.postEvents)
}

// Run processes the reports the API stored until ctx ends. Reports still
// queued then are processed by the next pending-report run.
func (a *API) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range a.workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case id := <-a.queue:
					sum, err := a.pipe.Process(ctx, id)
					switch {
					case err != nil && ctx.Err() == nil:
						a.log.Error("processing report", "report", id, "err", err)
					case err == nil:
						a.log.Info("report processed", "report", id, "events", sum.Events, "rejected", sum.Rejected,
							"failed", sum.Failed > 0, "unrecognized", sum.Unrecognized > 0)
					}
					if a.processed != nil {
						a.processed(id, err)
					}
				}
			}
		})
	}
	wg.Wait()
}

// enqueue hands a stored report to the workers without waiting: with the
// queue full it is left to the pending-report run.
func (a *API) enqueue(id int64) {
	select {
	case a.queue <- id:
	default:
		a.log.Warn("processing queue full; the report waits for the next pending-report run", "report", id)
	}
}

const tokenKey = "abusegw.token"

// auth admits requests that carry one of the configured bearer tokens.
func (a *API) auth(c *gin.Context) {
	if len(a.tokens) == 0 {
		c.AbortWithStatusJSON(http.StatusForbidden, api.Error{Error: "the ingest API is disabled: no http.tokens are configured"})
		return
	}
	scheme, tok, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		c.Header("WWW-Authenticate", `Bearer realm="abusegw"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, api.Error{Error: "missing bearer token (Authorization: Bearer TOKEN)"})
		return
	}
	sum := sha256.Sum256([]byte(tok))
	match := -1
	for i, t := range a.tokens { // all of them: no early exit
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		c.Header("WWW-Authenticate", `Bearer realm="abusegw", error="invalid_token"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, api.Error{Error: "invalid bearer token"})
		return
	}
	c.Set(tokenKey, a.tokens[match].name)
	c.Next()
}

// Accepted is the answer for one stored report.
type Accepted struct {
	ID     int64  `json:"id"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Name   string `json:"name,omitempty"`
	// Duplicate says the same bytes were stored before, as report ID.
	Duplicate bool `json:"duplicate"`
	// Status is the report's processing status (received for a new one).
	Status string `json:"status"`
	// URL is where its status can be read.
	URL string `json:"url"`
}

// Uploaded is the answer to a multipart upload: one entry per file part.
type Uploaded struct {
	Reports []Accepted `json:"reports"`
}

// failure is an error answer; Reports lists what a multipart upload stored
// before it failed.
type failure struct {
	Error   string     `json:"error"`
	Reports []Accepted `json:"reports,omitempty"`
}

func (a *API) postReports(c *gin.Context) {
	body := http.MaxBytesReader(c.Writer, c.Request.Body, a.maxBody)
	typ, filename := c.Query("type"), c.Query("filename")
	ct := c.GetHeader("Content-Type")
	if mt, params, err := mime.ParseMediaType(ct); err == nil && strings.HasPrefix(mt, "multipart/") {
		a.postMultipart(c, body, params["boundary"], typ)
		return
	}
	name, err := a.hintName(typ, filename)
	if err != nil {
		a.fail(c, err, nil)
		return
	}
	acc, err := a.store(c, ingest.Source{Channel: "http", Name: name, ContentType: ct}, body)
	if err != nil {
		a.fail(c, err, nil)
		return
	}
	code := http.StatusAccepted
	if acc.Duplicate {
		code = http.StatusOK
	}
	c.JSON(code, acc)
}

func (a *API) postMultipart(c *gin.Context, body io.Reader, boundary, typ string) {
	if boundary == "" {
		a.fail(c, &badInput{errors.New("multipart body without a boundary")}, nil)
		return
	}
	mr := multipart.NewReader(body, boundary)
	var out []Accepted
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			a.fail(c, readError(fmt.Errorf("malformed multipart body: %w", err)), out)
			return
		}
		if part.FileName() == "" { // a form field, not a report
			part.Close()
			continue
		}
		name, err := a.hintName(typ, part.FileName())
		if err != nil {
			a.fail(c, err, out)
			return
		}
		acc, err := a.store(c, ingest.Source{Channel: "http", Name: name, ContentType: part.Header.Get("Content-Type")}, part)
		part.Close()
		if err != nil {
			a.fail(c, fmt.Errorf("file part %q: %w", part.FileName(), err), out)
			return
		}
		out = append(out, acc)
	}
	if len(out) == 0 {
		a.fail(c, &badInput{errors.New("the multipart body has no file part")}, nil)
		return
	}
	code := http.StatusOK
	for _, acc := range out {
		if !acc.Duplicate {
			code = http.StatusAccepted
		}
	}
	c.JSON(code, Uploaded{Reports: out})
}

// store stores one report and queues a new one for processing.
func (a *API) store(c *gin.Context, src ingest.Source, r io.Reader) (Accepted, error) {
	ctx := c.Request.Context()
	cb := &checkedBody{r: r}
	st, err := a.pipe.Store(ctx, src, cb)
	if err != nil {
		if cb.err != nil {
			return Accepted{}, readError(cb.err)
		}
		return Accepted{}, err
	}
	acc := Accepted{ID: st.ID, SHA256: st.SHA256, Size: st.Size, Name: src.Name, Duplicate: st.Duplicate,
		Status: "received", URL: "/api/v1/reports/" + strconv.FormatInt(st.ID, 10)}
	if st.Duplicate {
		r, err := LookupReport(ctx, a.db, st.ID)
		if err != nil {
			return Accepted{}, err
		}
		acc.Status, acc.Name = r.Status, r.Name
	} else {
		a.enqueue(st.ID)
	}
	a.log.Info("report received", "report", st.ID, "name", src.Name, "size", st.Size, "duplicate", st.Duplicate,
		"token", c.GetString(tokenKey))
	return acc, nil
}

// readError marks a failure to read the request body as the client's.
func readError(err error) error {
	var mb *http.MaxBytesError
	var bi *badInput
	if errors.As(err, &mb) || errors.As(err, &bi) {
		return err
	}
	return &badInput{fmt.Errorf("reading the request body: %w", err)}
}

// fail answers with the status that fits err.
func (a *API) fail(c *gin.Context, err error, stored []Accepted) {
	var mb *http.MaxBytesError
	var bi *badInput
	switch {
	case errors.As(err, &mb):
		c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, failure{
			Error:   fmt.Sprintf("the body is larger than the limit of %d bytes (http.max_report_bytes)", mb.Limit),
			Reports: stored,
		})
	case errors.Is(err, ingest.ErrTooLarge):
		c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, failure{Error: err.Error(), Reports: stored})
	case errors.As(err, &bi):
		c.AbortWithStatusJSON(http.StatusBadRequest, failure{Error: err.Error(), Reports: stored})
	default:
		a.log.Error("storing a report", "err", err, "path", c.Request.URL.Path)
		c.AbortWithStatusJSON(http.StatusInternalServerError, failure{Error: "the report could not be stored; try again", Reports: stored})
	}
}

// hintName is the name a report is stored under: the file name the client
// gave, and for ?type= a name from which the pipeline reads that
// Shadowserver report type.
func (a *API) hintName(typ, filename string) (string, error) {
	filename = cleanName(filename)
	if typ == "" {
		return filename, nil
	}
	if a.reportType == nil {
		return "", &badInput{errors.New("?type= is not supported here")}
	}
	want, ok := a.reportType(typ)
	if !ok {
		return "", &badInput{fmt.Errorf("unknown Shadowserver report type %q", typ)}
	}
	if t, ok := shadowserver.ReportTypeFromFilename(filename); ok {
		if got, ok := a.reportType(t); ok && got == want {
			return filename, nil
		}
	}
	suffix := ".csv"
	stem := filename
	for _, z := range []string{".gz", ".zip"} {
		if strings.HasSuffix(strings.ToLower(stem), z) {
			suffix += z
			stem = stem[:len(stem)-len(z)]
		}
	}
	stem = wordChars(strings.TrimSuffix(stem, path.Ext(stem)))
	if stem == "" {
		return want + suffix, nil
	}
	return want + "-" + stem + suffix, nil
}

// cleanName keeps the last element of a client's file name, printable and
// not too long.
func cleanName(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	if name == "." || name == "/" {
		return ""
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	return name
}

// wordChars replaces every character that is not a letter, digit or _.
func wordChars(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return strings.Trim(string(b), "_")
}

func (a *API) getReport(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		c.AbortWithStatusJSON(http.StatusBadRequest, api.Error{Error: fmt.Sprintf("report ID %q is not a positive number", c.Param("id"))})
		return
	}
	r, err := LookupReport(c.Request.Context(), a.db, id)
	if errors.Is(err, ErrNoReport) {
		c.AbortWithStatusJSON(http.StatusNotFound, api.Error{Error: err.Error()})
		return
	}
	if err != nil {
		a.log.Error("reading report status", "report", id, "err", err)
		c.AbortWithStatusJSON(http.StatusInternalServerError, api.Error{Error: "reading the report failed"})
		return
	}
	c.JSON(http.StatusOK, r)
}

// EventsResult answers POST /api/v1/events: the stored report and what
// processing it gave.
type EventsResult struct {
	Accepted
	Format   string `json:"format,omitempty"`
	Events   int    `json:"events"`
	Rejected int    `json:"rejected"`
	Error    string `json:"error,omitempty"`
}

// postEvents stores IntelMQ events (JSON lines or an array) as a report and
// processes it before answering: 200 with the counts; 422 when no event in
// it was usable (the report is kept, failed, for `abusegw reprocess`); 202
// when processing could not run now (the report is stored and the
// pending-report run completes it).
func (a *API) postEvents(c *gin.Context) {
	ctx := c.Request.Context()
	v := newJSONEvents(http.MaxBytesReader(c.Writer, c.Request.Body, a.maxBody))
	defer v.Close()
	acc, err := a.storeEvents(c, v)
	if err != nil {
		a.fail(c, err, nil)
		return
	}
	res := EventsResult{Accepted: acc}
	if !acc.Duplicate {
		if _, err := a.pipe.Process(ctx, acc.ID); err != nil {
			a.log.Error("processing posted events", "report", acc.ID, "err", err)
			c.JSON(http.StatusAccepted, res)
			return
		}
	}
	r, err := LookupReport(ctx, a.db, acc.ID)
	if err != nil {
		a.log.Error("reading report status", "report", acc.ID, "err", err)
		c.JSON(http.StatusAccepted, res)
		return
	}
	res.Status, res.Format, res.Events, res.Rejected, res.Error = r.Status, r.Format, r.Events, r.Rejected, r.Error
	code := http.StatusOK
	if r.Status == "failed" || r.Status == "unrecognized" {
		code = http.StatusUnprocessableEntity
	}
	c.JSON(code, res)
}

// storeEvents stores an events body without queueing it: the request
// processes it.
func (a *API) storeEvents(c *gin.Context, r io.Reader) (Accepted, error) {
	ctx := c.Request.Context()
	cb := &checkedBody{r: r}
	st, err := a.pipe.Store(ctx, ingest.Source{Channel: "http", Name: "events.json", ContentType: "application/json"}, cb)
	if err != nil {
		if cb.err != nil {
			return Accepted{}, readError(cb.err)
		}
		return Accepted{}, err
	}
	a.log.Info("events received", "report", st.ID, "size", st.Size, "duplicate", st.Duplicate, "token", c.GetString(tokenKey))
	return Accepted{ID: st.ID, SHA256: st.SHA256, Size: st.Size, Name: "events.json", Duplicate: st.Duplicate,
		Status: "received", URL: "/api/v1/reports/" + strconv.FormatInt(st.ID, 10)}, nil
}
