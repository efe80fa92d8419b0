package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/kinko-pay/kinko/internal/auth"
)

// Every string a page or a mail shows comes from a message catalog, one
// per language, i18n/<locale>.json: a flat JSON object of keys to texts.
// Both catalogs hold exactly the same keys (a test checks), texts may take
// fmt verbs with explicit argument indexes (%[1]s) so each language can
// order them, and templates read them with {{.T "key" args…}}. Keys chosen
// in Go code are msgKey constants, which the test checks too.

//go:embed i18n/*.json
var catalogFS embed.FS

// msgKey names a catalog message chosen in Go code (an error to show, a
// mail's text). Declare each as a constant of this type, so that the
// catalog test finds it.
type msgKey string

// catalogs maps each locale to its messages.
var catalogs = mustLoadCatalogs()

func mustLoadCatalogs() map[auth.Locale]map[string]string {
	out := map[auth.Locale]map[string]string{}
	for _, l := range auth.Locales {
		b, err := catalogFS.ReadFile("i18n/" + string(l) + ".json")
		if err != nil {
			panic(fmt.Sprintf("web: catalog %s: %v", l, err))
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("web: catalog %s: %v", l, err))
		}
		out[l] = m
	}
	return out
}

// translate returns the message key in locale l, formatted with args. A
// key missing from the catalog (which the tests rule out) shows as itself,
// marked, rather than failing the page.
func translate(l auth.Locale, key string, args ...any) string {
	msg, ok := catalogs[l][key]
	if !ok {
		return "⟦" + key + "⟧"
	}
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}

// Bounds of Accept-Language parsing: longer headers are read only this far.
const (
	acceptLanguageBytesMax = 1024
	acceptLanguageItemsMax = 32
)

// langOf chooses a request's language: the lang cookie the switch sets
// (also set at sign-in from the user's preference), else the best
// Accept-Language match, else Japanese.
func langOf(r *http.Request) auth.Locale {
	if c, err := r.Cookie(cookieLang); err == nil {
		if l := auth.Locale(c.Value); l.Validate() == nil {
			return l
		}
	}
	if l, ok := parseAcceptLanguage(r.Header.Get("Accept-Language")); ok {
		return l
	}
	return auth.Locales[0]
}

// parseAcceptLanguage returns the supported locale the header prefers
// most (the highest q; the first among equals), matching a language range
// by its primary subtag ("en-US" is en, "*" is none of ours).
func parseAcceptLanguage(h string) (auth.Locale, bool) {
	if len(h) > acceptLanguageBytesMax {
		h = h[:acceptLanguageBytesMax]
	}
	var best auth.Locale
	bestQ := 0.0
	for i, item := range strings.Split(h, ",") {
		if i == acceptLanguageItemsMax {
			break
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(item), ";")
		primary, _, _ := strings.Cut(strings.TrimSpace(tag), "-")
		l := auth.Locale(strings.ToLower(primary))
		if l.Validate() != nil {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
		if q > bestQ {
			best, bestQ = l, q
		}
	}
	return best, bestQ > 0
}
