package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/kinko-pay/kinko/internal/auth"
)

//go:embed templates static
var assetFS embed.FS

// layoutFile holds the base layout ("layout") and the snippets every page
// may use ("csrf"); the files in templates/parts/ hold snippets some pages
// share (a deal's facts, its timeline); every other file in templates/ is a
// page defining "title" and "main".
const (
	layoutFile = "layout.html"
	partsGlob  = "templates/parts/*.html"
)

// templateFuncs are the functions templates may call besides the page's
// methods: {{static "style.css"}}, {{money .Currency .Scale .Price}},
// {{when .CreatedAt}} and {{datetime .CreatedAt}} (a <time> attribute),
// and the names of escrow's and billing's codes as catalog messages for
// {{.Msg …}}.
var templateFuncs = template.FuncMap{
	"static":     staticURL,
	"money":      formatMoney,
	"when":       formatWhen,
	"datetime":   formatDatetime,
	"stateName":  stateName,
	"stateClass": stateClass,
	"feePayer":   feePayerName,
	"reason":     reviewReasonName,
	"depStatus":  depositStatusName,
	"payState":   payoutStateName,
	"acctType":   accountTypeName,
	"resolution": resolutionName,
	"billMode":   billingModeName,
	"stmtKind":   statementKindName,
	"inc":        func(i int) int { return i + 1 },
}

// mustParsePages parses each page together with the layout and the parts.
func mustParsePages() map[string]*template.Template {
	base := template.Must(template.New(layoutFile).Funcs(templateFuncs).
		ParseFS(assetFS, "templates/"+layoutFile, partsGlob))
	names, err := fs.Glob(assetFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		file := path.Base(name)
		if file == layoutFile {
			continue
		}
		t := template.Must(template.Must(base.Clone()).ParseFS(assetFS, name))
		pages[strings.TrimSuffix(file, ".html")] = t
	}
	return pages
}

// page is what every template sees as its dot. Data is the page's own.
type page struct {
	Name      string // the template's name, on <body data-page>
	Lang      auth.Locale
	Path      string // the request's path and query, where the language switch returns to
	Console   bool   // a page of the staff console
	User      *auth.User
	Staff     *auth.StaffUser
	Escrow    bool // the escrow pages are served (their links are shown)
	Provider  bool // the user is a member of an organization (the billing link is shown)
	CSRFToken string
	Notice    message // a one-line notice above the page, from a fixed list
	Data      any
}

// T returns the catalog's message key in the page's language, formatted
// with args.
func (p *page) T(key string, args ...any) string { return translate(p.Lang, key, args...) }

// StaffHas reports whether the signed-in staff user may open the pages of
// role: admin may open every page.
func (p *page) StaffHas(role auth.Role) bool { return staffHas(p.Staff, role) }

// staffHas reports whether u may act in role: admin may do everything.
func staffHas(u *auth.StaffUser, role auth.Role) bool {
	return u != nil && (u.Role == role || u.Role == auth.RoleAdmin)
}

// notices are the notices a page may be asked to show by ?notice=NAME
// (after a redirect); any other name shows nothing.
var notices = map[string]msgKey{
	"verified":         msgNoticeVerified,
	"saved":            msgNoticeSaved,
	"signed-out":       msgNoticeSignedOut,
	"deal-created":     msgNoticeDealCreated,
	"done":             msgNoticeDone,
	"posted":           msgNoticePosted,
	"review-cleared":   msgNoticeReviewCleared,
	"resolved":         msgNoticeResolved,
	"deposit-closed":   msgNoticeDepositCleared,
	"deposit-applied":  msgNoticeDepositApplied,
	"deposit-returned": msgNoticeDepositReturn,
	"batch-built":      msgNoticeBatchBuilt,
	"batch-settled":    msgNoticeBatchSettled,
	"item-returned":    msgNoticeItemReturned,
}

// render writes the page name with status. The page is rendered into a
// buffer first, so a template error becomes an error page, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, v *visit, status int, name string, data any) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("web: no page %q", name)
	}
	p := &page{
		Name: name, Lang: v.lang, Path: r.URL.RequestURI(), Console: v.area == areaConsole, User: v.user, Staff: v.staff,
		Escrow: s.cfg.Escrow != nil, CSRFToken: v.csrfToken(), Notice: message{Key: notices[r.URL.Query().Get("notice")]}, Data: data,
	}
	if v.area == areaPortal {
		// Only the navigation needs it: a failed read hides the link and is
		// logged, rather than failing the page (or the error page).
		ms, err := s.memberships(r.Context(), v)
		if err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelError, "web: read memberships",
				slog.String("request_id", v.requestID), slog.String("err", err.Error()))
		}
		p.Provider = len(ms) > 0
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// asset is one embedded static file, with the hash that versions its URL.
type asset struct {
	body        []byte
	contentType string
	version     string // the first 12 hex digits of the body's SHA-256
}

// assets are the files under static/, read once.
var assets = mustLoadAssets()

func mustLoadAssets() map[string]asset {
	out := map[string]asset{}
	entries, err := fs.ReadDir(assetFS, "static")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := assetFS.ReadFile("static/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(e.Name()))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[e.Name()] = asset{body: b, contentType: ct, version: hex.EncodeToString(sum[:6])}
	}
	return out
}

// Cache lifetimes of static files: a URL with the file's current version
// never changes, so browsers keep it a year; one without (or with an old
// version, during a deploy) must be revalidated.
const (
	staticCacheVersioned   = "public, max-age=31536000, immutable"
	staticCacheUnversioned = "no-cache"
)

// staticURL is the template function {{static "style.css"}}: the file's
// URL with its version, so that a changed file gets a new URL.
func staticURL(name string) (string, error) {
	a, ok := assets[name]
	if !ok {
		return "", fmt.Errorf("web: no static file %q", name)
	}
	return "/static/" + name + "?v=" + a.version, nil
}

// serveStatic answers GET /static/{name} with an embedded file.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	etag := `"` + a.version + `"`
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", etag)
	if r.URL.Query().Get("v") == a.version {
		w.Header().Set("Cache-Control", staticCacheVersioned)
	} else {
		w.Header().Set("Cache-Control", staticCacheUnversioned)
	}
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(a.body)
}
