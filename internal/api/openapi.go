package api

import (
	_ "embed"
	"net/http"

	"github.com/minivoice/minivoice/internal/auth"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPIDocument returns the API's OpenAPI 3.1 document.
func OpenAPIDocument() []byte { return openAPIDoc }

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request, _ *auth.Principal) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
	return nil
}
