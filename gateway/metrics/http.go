package metrics

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/abusegw/abusegw/gateway/store"
)

// CompliancePath is the route of the compliance report.
const CompliancePath = "/api/v1/metrics/compliance"

// apiError is the JSON body of an error answer (as gateway/api's).
type apiError struct {
	Error string `json:"error"`
}

// Mount returns the route GET /api/v1/metrics/compliance?from=&to=&group_by=
// for the router's Mount hook. It answers the Report as JSON (the same
// document as `abusegw report --format json`), 400 with a JSON error for
// bad parameters. now is the clock (time.Now in production).
func Mount(db *store.DB, cfg Config, now func() time.Time) func(gin.IRouter) {
	if now == nil {
		now = time.Now
	}
	return func(r gin.IRouter) {
		r.GET(CompliancePath, func(c *gin.Context) {
			q, err := ParseQuery(c.Query("from"), c.Query("to"), c.Query("group_by"))
			if err != nil {
				c.JSON(http.StatusBadRequest, apiError{Error: err.Error()})
				return
			}
			rep, err := Compute(c.Request.Context(), db, cfg, q, now())
			switch {
			case errors.Is(err, ErrBadQuery):
				c.JSON(http.StatusBadRequest, apiError{Error: err.Error()})
			case err != nil:
				_ = c.Error(err)
				c.JSON(http.StatusInternalServerError, apiError{Error: "computing the compliance report failed: " + err.Error()})
			default:
				c.JSON(http.StatusOK, rep)
			}
		})
	}
}

// ParseQuery reads a report's parameters as the CLI and the API take them
// (from, to: dates or RFC 3339 times, "" for open; groupBy: a grouping).
func ParseQuery(from, to, groupBy string) (Query, error) {
	var q Query
	var err error
	if q.From, err = ParseTime(from); err != nil {
		return q, errors.New("from: " + err.Error())
	}
	if q.To, err = ParseTime(to); err != nil {
		return q, errors.New("to: " + err.Error())
	}
	if q.GroupBy, err = ParseGroupBy(groupBy); err != nil {
		return q, err
	}
	return q, nil
}
