package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// OpenAPI is the OpenAPI 3 document of abusegw's whole HTTP API (probes,
// metrics, ingest, report status, webhooks, compliance metrics), served at
// GET /api/v1/openapi.json. A test checks that every route `serve`
// registers is in it.
//
//go:embed openapi.json
var OpenAPI []byte

func serveOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", OpenAPI)
}
