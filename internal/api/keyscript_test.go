package api

import (
	"slices"
	"strings"
	"testing"

	"github.com/kinko-pay/kinko/internal/idempotency"
)

// keyScript drives a script of keyed POSTs through a harness, keeping each
// answer and the routes the script reached.
type keyScript struct {
	t      *testing.T
	h      *harness
	steps  []keyedStep
	routes []string
}

// post sends one keyed POST under name; route is its pattern ("": not
// counted as reached).
func (s *keyScript) post(name, route, path, key, idem, body string) keyedStep {
	s.t.Helper()
	r := s.h.do("POST", path, key, body, "Idempotency-Key", idem)
	code, _ := r.body["code"].(string)
	st := keyedStep{name: name, status: r.status, replayed: r.header.Get("Idempotent-Replayed") == "true", code: code,
		ctype: r.header.Get("Content-Type"), cache: r.header.Get("Cache-Control"), raw: r.raw}
	s.steps = append(s.steps, st)
	if route != "" && !slices.Contains(s.routes, route) {
		s.routes = append(s.routes, route)
	}
	return st
}

// id reads a string field of an answer.
func (s *keyScript) id(st keyedStep, field string) string {
	s.t.Helper()
	for _, part := range strings.Split(st.raw, `"`+field+`":"`)[1:] {
		return part[:strings.IndexByte(part, '"')]
	}
	s.t.Fatalf("%s: no %s in %s", st.name, field, st.raw)
	return ""
}

// sameAsGeneric checks that a keyed server answered a script as a generic
// one did (status, replay, problem code, content type, caching), reached
// every route of want and logged no error, and returns the keyed answers
// by name.
func sameAsGeneric(t *testing.T, keyed, generic []keyedStep, routes, want []string, log *errorLog) map[string]keyedStep {
	t.Helper()
	for _, route := range want {
		if !slices.Contains(routes, route) {
			t.Errorf("the script never reaches %s", route)
		}
	}
	if len(log.msgs) != 0 {
		t.Errorf("the keyed server logged errors: %q", log.msgs)
	}
	if len(keyed) != len(generic) {
		t.Fatalf("%d keyed answers, %d generic", len(keyed), len(generic))
	}
	byName := map[string]keyedStep{}
	for i, k := range keyed {
		g := generic[i]
		byName[k.name] = k
		if k.status != g.status || k.replayed != g.replayed || k.code != g.code || k.ctype != g.ctype || k.cache != g.cache {
			t.Errorf("%s: keyed %d (replayed %v, %q, %s, %s), generic %d (replayed %v, %q, %s, %s)\n%s\n%s", k.name, k.status, k.replayed, k.code, k.ctype, k.cache,
				g.status, g.replayed, g.code, g.ctype, g.cache, k.raw, g.raw)
		}
	}
	return byName
}

// sameFirstAnswer checks the answers to concurrent duplicates of one keyed
// request: each is the one first answer (a 201), byte for byte, or 409
// while the first still runs.
func sameFirstAnswer(t *testing.T, dups []response) {
	t.Helper()
	first := ""
	for _, r := range dups {
		switch {
		case r.status == 409 && r.body["code"] == idempotency.CodeKeyInUse:
		case r.status == 201 && (first == "" || r.raw == first):
			first = r.raw
		default:
			t.Fatalf("a concurrent duplicate: %d %s (first %s)", r.status, r.raw, first)
		}
	}
}
