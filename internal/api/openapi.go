package api

import (
	_ "embed"
	"net/http"
	"strconv"

	"github.com/kinko-pay/kinko/internal/auth"
)

// OpenAPIPath is where the server publishes its OpenAPI document.
const OpenAPIPath = "/v1/openapi.yaml"

// openAPIDocument is the OpenAPI 3.1 description of every route in Routes
// and PublicRoutes; openapi_test.go proves the two agree, and .ci/run lints it.
//
//go:embed openapi.yaml
var openAPIDocument []byte

// getOpenAPI serves the document as kept in the repository. It is public, so
// that a client can be generated before anyone holds a key.
func (s *Server) getOpenAPI(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(openAPIDocument)
	return err
}
