package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Layers of the module, as paths relative to the module root. A rule about a
// path covers the packages below it too.
var (
	// domain packages hold types, rules and the interfaces of the stores they
	// need. They import no SQL driver, no net/http and no adapter or edge.
	domain = []string{
		"internal/money", "internal/apperr", "internal/ledger",
		"internal/escrow", "internal/billing", "internal/points", "internal/wallet",
		"internal/notify", "internal/monitor", "internal/auth", "internal/audit", "internal/idempotency",
		"internal/event", "internal/webhook", "internal/bankfile",
	}
	// products never import each other, except notify, the shared service
	// every product may use to send notices (DESIGN.md §2). Core domain
	// packages (money, apperr, ledger, auth, audit) import no product.
	products     = []string{"internal/escrow", "internal/billing", "internal/points", "internal/wallet", "internal/notify", "internal/monitor"}
	sharedByAll  = []string{"internal/notify"}
	leaves       = []string{"internal/money", "internal/apperr", "internal/clock"} // import no other package of the module
	adapterEdges = []string{"internal/store", "internal/cli", "internal/api", "internal/web", "internal/jobs"}
	// forbiddenExternal are SQL, HTTP and job-queue packages no domain package may reach.
	forbiddenExternal = []string{
		"database/sql", "net/http",
		"github.com/jackc/", "github.com/mattn/", "github.com/lib/pq", "modernc.org/sqlite",
		"github.com/riverqueue/",
	}
	// mustFind are packages the test fails without, so a broken package
	// pattern cannot pass by checking nothing.
	mustFind = []string{"cmd/kinko", "internal/cli", "internal/ledger", "internal/money", "internal/apperr", "client"}
)

// pkg is the part of `go list -json` the rules read. Imports are the
// package's own, non-test imports.
type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Standard   bool
	Module     *struct{ Path string }
	Imports    []string
	Error      *struct{ Err string }
}

func TestImportDirections(t *testing.T) {
	module, pkgs := goList(t)
	var own int
	for _, p := range pkgs {
		if p.Error != nil {
			t.Errorf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		if inModule(p, module) {
			own++
		}
	}
	if own == 0 {
		t.Fatal("go list found no package of the module; the rules checked nothing")
	}
	for _, rel := range mustFind {
		if _, ok := pkgs[module+"/"+rel]; !ok {
			t.Errorf("go list did not find %s/%s; the rules may be checking the wrong tree", module, rel)
		}
	}
	t.Logf("checked %d packages of %s (%d with dependencies)", own, module, len(pkgs))
	for _, v := range check(module, pkgs) {
		t.Error(v)
	}
}

// TestCheck makes sure each rule catches what it is meant to, on small made-up modules.
func TestCheck(t *testing.T) {
	const m = "example.com/k"
	p := func(rel string, imports ...string) *pkg {
		return &pkg{ImportPath: m + "/" + rel, Name: rel[strings.LastIndex(rel, "/")+1:], Doc: "Package x does x.",
			Module: &struct{ Path string }{m}, Imports: imports}
	}
	std := func(path string, imports ...string) *pkg {
		return &pkg{ImportPath: path, Standard: true, Imports: imports}
	}
	for _, tc := range []struct {
		name string
		pkgs []*pkg
		want string // a substring of the one violation expected; "" for none
	}{
		{"OK", []*pkg{p("internal/ledger", m+"/internal/money", "fmt"), p("internal/money"), std("fmt"),
			p("internal/escrow", m+"/internal/ledger", m+"/internal/notify"), p("internal/notify", m+"/internal/ledger"),
			p("internal/store/sqlite", m+"/internal/ledger", "database/sql"), std("database/sql"),
			p("internal/cli", m+"/internal/store/sqlite", "net/http"), std("net/http"), p("cmd/kinko", m+"/internal/cli")}, ""},
		{"ErrDomainImportsSQL", []*pkg{p("internal/ledger", "database/sql"), std("database/sql")},
			"internal/ledger must not import database/sql"},
		{"ErrDomainImportsDriverIndirectly", []*pkg{p("internal/billing", "example.org/helper"),
			&pkg{ImportPath: "example.org/helper", Imports: []string{"github.com/jackc/pgx/v5"}}, &pkg{ImportPath: "github.com/jackc/pgx/v5"}},
			"internal/billing must not import github.com/jackc/pgx/v5 (via example.org/helper)"},
		{"ErrDomainImportsHTTPSubpackage", []*pkg{p("internal/wallet", "net/http/httputil"), std("net/http/httputil")},
			"must not import net/http/httputil"},
		{"ErrDomainImportsAdapter", []*pkg{p("internal/points", m+"/internal/store/sqlite"), p("internal/store/sqlite")},
			"internal/points must not import " + m + "/internal/store/sqlite"},
		{"ErrDomainSubpackageImportsEdge", []*pkg{p("internal/ledger/sub", m+"/internal/api"), p("internal/api")},
			"internal/ledger/sub must not import " + m + "/internal/api"},
		{"ErrLeafImportsModule", []*pkg{p("internal/money", m+"/internal/apperr"), p("internal/apperr")},
			"internal/money must import no other package of the module"},
		{"ErrProductImportsProduct", []*pkg{p("internal/escrow", m+"/internal/billing"), p("internal/billing")},
			"internal/escrow must not import " + m + "/internal/billing"},
		{"ErrCoreImportsProduct", []*pkg{p("internal/ledger", m+"/internal/points"), p("internal/points")},
			"internal/ledger must not import " + m + "/internal/points"},
		{"ErrNotifyImportsProduct", []*pkg{p("internal/notify", m+"/internal/escrow"), p("internal/escrow")},
			"internal/notify must not import " + m + "/internal/escrow"},
		{"ErrImportsCLI", []*pkg{p("internal/api", m+"/internal/cli"), p("internal/cli")},
			"internal/api must not import " + m + "/internal/cli"},
		{"ErrClientImportsInternal", []*pkg{p("client", m+"/internal/ledger"), p("internal/ledger")},
			"client must not import " + m + "/internal/ledger"},
		{"ErrNoPackageComment", []*pkg{{ImportPath: m + "/internal/x", Name: "x", Module: &struct{ Path string }{m}}},
			"internal/x has no package comment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkgs := map[string]*pkg{}
			for _, x := range tc.pkgs {
				pkgs[x.ImportPath] = x
			}
			got := check(m, pkgs)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("violations on a clean module: %q", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("violations = %q, want one containing %q", got, tc.want)
			}
		})
	}
}

// check returns one line per broken rule, in a stable order.
func check(module string, pkgs map[string]*pkg) []string {
	var out []string
	for _, p := range sortedPkgs(pkgs) {
		if !inModule(p, module) {
			continue
		}
		name := strings.TrimPrefix(p.ImportPath, module+"/")
		if p.Doc == "" {
			out = append(out, fmt.Sprintf("%s has no package comment: say what it is for and what it must never do", name))
		}
		if underAny(name, leaves) {
			for _, dep := range p.Imports {
				if _, ok := ownPath(module, dep); ok {
					out = append(out, fmt.Sprintf("%s must import no other package of the module, but imports %s", name, dep))
				}
			}
		} else if underAny(name, domain) {
			reach := reachable(pkgs, p.ImportPath)
			for _, dep := range sortedKeys(reach) {
				if domainMayNotImport(module, name, dep) {
					out = append(out, fmt.Sprintf("%s must not import %s%s", name, dep, via(reach, p.ImportPath, dep)))
				}
			}
		}
		if under(name, "client") {
			// The public client stands on the HTTP API alone: a program outside
			// this module could not import what it imported from internal/.
			for _, dep := range p.Imports {
				if d, ok := ownPath(module, dep); ok && under(d, "internal") {
					out = append(out, fmt.Sprintf("%s must not import %s: the public client uses the API, not the internals", name, dep))
				}
			}
		}
		if name != "cmd/kinko" && !under(name, "internal/cli") {
			for _, dep := range p.Imports {
				if d, ok := ownPath(module, dep); ok && under(d, "internal/cli") {
					out = append(out, fmt.Sprintf("%s must not import %s: only cmd/kinko may", name, dep))
				}
			}
		}
	}
	return out
}

// domainMayNotImport reports whether the domain package name (relative to the
// module) breaks a rule by depending on dep (a full import path).
func domainMayNotImport(module, name, dep string) bool {
	if underAny(dep, forbiddenExternal) {
		return true
	}
	d, own := ownPath(module, dep)
	switch {
	case !own:
		return false
	case underAny(d, adapterEdges):
		return true
	case !underAny(d, products) || under(d, productOf(name)):
		return false // not a product, or the package's own product
	case underAny(name, products) && !underAny(name, sharedByAll):
		return !underAny(d, sharedByAll) // a product may use a shared service, no other product
	default:
		return true // core packages and shared services sit below every product
	}
}

// ownPath returns dep relative to the module root when dep is in the module.
func ownPath(module, dep string) (string, bool) {
	return strings.CutPrefix(dep, module+"/")
}

// reachable returns every package from reaches through non-test imports,
// each mapped to the package that first imported it (a shortest path).
func reachable(pkgs map[string]*pkg, from string) map[string]string {
	parent := map[string]string{}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		p := pkgs[cur]
		if p == nil {
			continue
		}
		for _, dep := range p.Imports {
			if _, seen := parent[dep]; seen || dep == from {
				continue
			}
			parent[dep] = cur
			queue = append(queue, dep)
		}
	}
	return parent
}

// via explains how from reaches dep when it does not import it directly.
func via(parent map[string]string, from, dep string) string {
	var chain []string
	for cur := parent[dep]; cur != from && cur != ""; cur = parent[cur] {
		chain = append(chain, cur)
	}
	if len(chain) == 0 {
		return ""
	}
	slices.Reverse(chain)
	return " (via " + strings.Join(chain, " -> ") + ")"
}

// productOf returns the product a path belongs to, e.g. internal/escrow for internal/escrow/zengin.
func productOf(rel string) string {
	for _, p := range products {
		if under(rel, p) {
			return p
		}
	}
	return rel
}

func inModule(p *pkg, module string) bool {
	return p.Module != nil && p.Module.Path == module && !p.Standard
}

// under reports whether path is prefix or below it. A prefix ending in "/"
// matches any path that starts with it (a whole owner's repositories).
func under(path, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(path, prefix)
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func underAny(path string, prefixes []string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return under(path, p) })
}

func sortedPkgs(pkgs map[string]*pkg) []*pkg {
	out := make([]*pkg, 0, len(pkgs))
	for _, k := range sortedKeys(pkgs) {
		out = append(out, pkgs[k])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// goList returns the module path and every package of the module together
// with all of its dependencies, keyed by import path.
func goList(t *testing.T) (string, map[string]*pkg) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}}\t{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", describe(err))
	}
	module, dir, ok := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if !ok || module == "" || dir == "" {
		t.Fatalf("go list -m: unexpected output %q", out)
	}
	cmd := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,Name,Doc,Standard,Module,Imports,Error", "./...")
	cmd.Dir = dir
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./...: %v", describe(err))
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs[p.ImportPath] = &p
	}
	return module, pkgs
}

// describe adds a failed command's stderr to its error.
func describe(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return err
}
