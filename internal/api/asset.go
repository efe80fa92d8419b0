package api

import (
	"net/http"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/money"
)

type assetJSON struct {
	Object string `json:"object"` // "asset"
	Code   string `json:"code"`
	Scale  int    `json:"scale"`
}

type assetCreate struct {
	Code  string `json:"code"`
	Scale *int   `json:"scale"`
}

// createAsset configures an asset. Assets are shared by every organization,
// so only the operator (admin scope) may create them.
func (s *Server) createAsset(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.IsAdmin() {
		return &apperr.Error{Code: auth.CodeForbidden, Message: "assets are shared by every organization: only an admin key may create them"}
	}
	var in assetCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Scale == nil {
		return invalid("scale", "scale is required")
	}
	a := money.Asset{Code: in.Code, Scale: *in.Scale}
	if err := s.cfg.Ledger.CreateAsset(r.Context(), a); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, assetJSON{Object: "asset", Code: a.Code, Scale: a.Scale})
}

func (s *Server) listAssets(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("assets", false); err != nil {
		return err
	}
	assets, err := s.cfg.Ledger.FindAssets(r.Context())
	if err != nil {
		return err
	}
	out := make([]assetJSON, len(assets))
	for i, a := range assets {
		out[i] = assetJSON{Object: "asset", Code: a.Code, Scale: a.Scale}
	}
	return writeJSON(w, http.StatusOK, newList(out, len(out)))
}
