package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template/parse"

	"github.com/kinko-pay/kinko/internal/auth"
)

// TestCatalogsMatch checks that every locale's catalog has exactly the same
// keys, with the same fmt verbs in each message, and no empty message.
func TestCatalogsMatch(t *testing.T) {
	ref := catalogs[auth.Locales[0]]
	for _, l := range auth.Locales {
		cat, ok := catalogs[l]
		if !ok {
			t.Fatalf("no catalog for %s", l)
		}
		for key, msg := range cat {
			if strings.TrimSpace(msg) == "" {
				t.Errorf("%s: %q is empty", l, key)
			}
			if _, ok := ref[key]; !ok {
				t.Errorf("%s has %q, which %s lacks", l, key, auth.Locales[0])
			}
		}
		for key, msg := range ref {
			other, ok := cat[key]
			if !ok {
				t.Errorf("%s lacks %q", l, key)
				continue
			}
			if a, b := verbs(msg), verbs(other); !slices.Equal(a, b) {
				t.Errorf("%q: %s has verbs %v, %s has %v", key, auth.Locales[0], a, l, b)
			}
		}
	}
}

var verbPattern = regexp.MustCompile(`%(\[\d+\])?[a-z]`)

// verbs returns a message's fmt verbs, sorted; every one must name its
// argument (%[1]s), so that languages may order them differently.
func verbs(msg string) []string {
	out := verbPattern.FindAllString(strings.ReplaceAll(msg, "%%", ""), -1)
	slices.Sort(out)
	return out
}

func TestCatalogVerbsAreIndexed(t *testing.T) {
	for l, cat := range catalogs {
		for key, msg := range cat {
			for _, v := range verbs(msg) {
				if !strings.HasPrefix(v, "%[") {
					t.Errorf("%s %q: verb %s has no argument index", l, key, v)
				}
			}
		}
	}
}

// TestCatalogKeysUsed checks that every key a template names ({{.T "key"}})
// and every msgKey constant in the package's Go files is in the catalogs,
// and that every catalog key is used by one of them.
func TestCatalogKeysUsed(t *testing.T) {
	used := map[string]string{} // key → where
	for key, where := range templateKeys(t) {
		used[key] = where
	}
	for key, where := range msgKeyConstants(t) {
		used[key] = where
	}
	if len(used) < 50 {
		t.Fatalf("found only %d keys in use; the scan is broken", len(used))
	}
	ref := catalogs[auth.Locales[0]]
	for key, where := range used {
		for _, l := range auth.Locales {
			if _, ok := catalogs[l][key]; !ok {
				t.Errorf("%s uses %q, which the %s catalog lacks", where, key, l)
			}
		}
	}
	for key := range ref {
		if _, ok := used[key]; !ok {
			t.Errorf("the catalogs hold %q, which no template or msgKey constant uses", key)
		}
	}
}

// templateKeys returns the constant keys every template passes to T.
func templateKeys(t *testing.T) map[string]string {
	t.Helper()
	files, err := fs.Glob(assetFS, "templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	parts, err := fs.Glob(assetFS, partsGlob)
	if err != nil || len(parts) == 0 {
		t.Fatalf("no template parts: %v", err)
	}
	files = append(files, parts...)
	keys := map[string]string{}
	for _, name := range files {
		text, err := fs.ReadFile(assetFS, name)
		if err != nil {
			t.Fatal(err)
		}
		trees := map[string]*parse.Tree{}
		tree := parse.New(name)
		tree.Mode = parse.SkipFuncCheck
		if _, err := tree.Parse(string(text), "{{", "}}", trees); err != nil {
			t.Fatal(err)
		}
		for _, tree := range trees {
			walkTemplate(tree.Root, func(cmd *parse.CommandNode) {
				if len(cmd.Args) < 2 || !callsT(cmd.Args[0]) {
					return
				}
				if s, ok := cmd.Args[1].(*parse.StringNode); ok {
					keys[s.Text] = name
				} else {
					t.Errorf("%s: T with a key that is not a constant: %s (choose it in Go, as a msgKey)", name, cmd)
				}
			})
		}
	}
	return keys
}

// callsT reports whether n names the method T: .T, $.T or $x.T.
func callsT(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.FieldNode:
		return n.Ident[len(n.Ident)-1] == "T"
	case *parse.VariableNode:
		return len(n.Ident) > 1 && n.Ident[len(n.Ident)-1] == "T"
	case *parse.ChainNode:
		return len(n.Field) > 0 && n.Field[len(n.Field)-1] == "T"
	}
	return false
}

// walkTemplate calls fn on every command in a template tree.
func walkTemplate(n parse.Node, fn func(*parse.CommandNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkTemplate(c, fn)
		}
	case *parse.ActionNode:
		walkTemplate(n.Pipe, fn)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walkTemplate(c, fn)
		}
	case *parse.CommandNode:
		fn(n)
		for _, a := range n.Args {
			walkTemplate(a, fn)
		}
	case *parse.IfNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.TemplateNode:
		walkTemplate(n.Pipe, fn)
	}
}

func walkBranch(b *parse.BranchNode, fn func(*parse.CommandNode)) {
	walkTemplate(b.Pipe, fn)
	walkTemplate(b.List, fn)
	walkTemplate(b.ElseList, fn)
}

// msgKeyConstants returns the value of every constant of type msgKey
// declared in the package's Go files.
func msgKeyConstants(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			if id, ok := spec.Type.(*ast.Ident); !ok || id.Name != "msgKey" {
				return true
			}
			for i, v := range spec.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Errorf("%s: msgKey %s is not a string literal", name, spec.Names[i].Name)
					continue
				}
				s, _ := strconv.Unquote(lit.Value)
				keys[s] = name + " (" + spec.Names[i].Name + ")"
			}
			return true
		})
	}
	return keys
}

// TestTemplatesRenderInEveryLocale renders every page in every locale with
// its own data, so a template that fails at run time fails here.
func TestTemplatesRenderInEveryLocale(t *testing.T) {
	f := newFixture(t, nil)
	for _, l := range auth.Locales {
		b := f.browser()
		b.lang = string(l)
		for _, path := range []string{"/", "/sign-up", "/sign-in", "/check-mail", "/verify?token=abc", "/verify", "/verify/resend", "/console/sign-in", "/nothing"} {
			body := b.get(path).body
			if strings.Contains(body, "⟦") {
				t.Errorf("%s GET %s: a key is missing from the catalog:\n%s", l, path, body)
			}
			if !strings.Contains(body, `<html lang="`+string(l)+`">`) {
				t.Errorf("%s GET %s: not in %s", l, path, l)
			}
		}
	}
}
