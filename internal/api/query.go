package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// queryParams holds, for every route the OpenAPI document describes
// ("GET /v1/transfers", as http.Request.Pattern names it), the query
// parameters it documents. A request may send no others: a misspelled
// filter (created_gt for created_gte) would otherwise be dropped without a
// word and the caller would read more than it asked for, as unknown JSON
// fields are refused for the same reason.
var queryParams = mustQueryParams(openAPIDocument)

// mustQueryParams reads the query parameters of every operation of doc,
// its own and its path's, following local $refs to components. The
// document is embedded and tested (openapi_test.go); one that cannot be
// read is a broken build, so it panics.
func mustQueryParams(doc []byte) map[string]map[string]bool {
	var root struct {
		Paths      map[string]map[string]yaml.Node `yaml:"paths"`
		Components struct {
			Parameters map[string]openAPIParam `yaml:"parameters"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(doc, &root); err != nil {
		panic(fmt.Sprintf("api: openapi.yaml: %v", err))
	}
	names := func(n yaml.Node) []string {
		var ps []openAPIParam
		if err := n.Decode(&ps); err != nil {
			panic(fmt.Sprintf("api: openapi.yaml: parameters at line %d: %v", n.Line, err))
		}
		var out []string
		for _, p := range ps {
			if p.Ref != "" {
				ref, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
				c, found := root.Components.Parameters[ref]
				if !ok || !found {
					panic(fmt.Sprintf("api: openapi.yaml: parameter $ref %q is not one of #/components/parameters", p.Ref))
				}
				p = c
			}
			if p.In == "query" {
				out = append(out, p.Name)
			}
		}
		return out
	}
	out := map[string]map[string]bool{}
	for path, item := range root.Paths {
		shared := names(item["parameters"])
		for method, op := range item {
			if !slices.Contains(openAPIMethods, method) {
				continue // parameters, summary, servers, x-…
			}
			var o struct {
				Parameters yaml.Node `yaml:"parameters"`
			}
			if err := op.Decode(&o); err != nil {
				panic(fmt.Sprintf("api: openapi.yaml: %s %s: %v", method, path, err))
			}
			allowed := map[string]bool{}
			for _, name := range append(shared, names(o.Parameters)...) {
				allowed[name] = true
			}
			out[strings.ToUpper(method)+" "+path] = allowed
		}
	}
	return out
}

// openAPIMethods are the keys of an OpenAPI path item that name operations.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIParam is the part of an OpenAPI parameter (or a $ref to one) that
// queryParams reads.
type openAPIParam struct {
	Ref  string `yaml:"$ref"`
	Name string `yaml:"name"`
	In   string `yaml:"in"`
}

// checkQuery refuses a query parameter that the route r matched does not
// document: invalid, naming the first such parameter (in byte order) and
// the ones the route takes.
func checkQuery(r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	allowed, ok := queryParams[r.Pattern]
	if !ok {
		return nil // no route matched: the handler answers 404
	}
	// r.URL.Query drops what it cannot parse (a ';', a bad escape), and the
	// handlers read through it: such a filter would be ignored unseen.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return invalid("", "the query string is malformed: %v", err)
	}
	var unknown []string
	for name, vs := range q {
		if !allowed[name] {
			unknown = append(unknown, name)
		} else if len(vs) > 1 {
			// The handlers read the first; which one counts is not left
			// to chance.
			return invalid(name, "query parameter %q is given %d times; give it once", name, len(vs))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	if len(allowed) == 0 {
		return invalid(unknown[0], "unknown query parameter %q: this endpoint takes none", unknown[0])
	}
	takes := make([]string, 0, len(allowed))
	for name := range allowed {
		takes = append(takes, name)
	}
	slices.Sort(takes)
	return invalid(unknown[0], "unknown query parameter %q: this endpoint takes %s", unknown[0], strings.Join(takes, ", "))
}
