package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// decode reads exactly one JSON object into dst. Unknown fields, trailing
// data and wrong types are invalid, naming the offending field; so are a
// name given twice in one object (which of the two would count is what a
// proxy, a validator and Kinko might disagree on) and text that is not
// UTF-8 (it would be read as U+FFFD, making different references equal):
// the body must be I-JSON (RFC 7493).
func decode(r *http.Request, dst any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	if err := strict(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return placeUnknown(decodeError(err), body)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return apperr.Invalid("body", "the body must hold exactly one JSON object")
	}
	return nil
}

// strict refuses a body that is not one JSON object, or that repeats a
// name in an object or holds text that is not UTF-8. Malformed JSON passes,
// for the decoder to report as such.
func strict(body []byte) error {
	if jsontext.Value(body).IsValid() {
		if b := bytes.TrimLeft(body, " \t\r\n"); len(b) > 0 && b[0] != '{' {
			return apperr.Invalid("body", "the body must be one JSON object")
		}
		return nil
	}
	if !jsontext.Value(body).IsValid(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)) {
		return nil // malformed: the decoder says where
	}
	// Find the place: the first error a strict reader meets.
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	err := dec.SkipValue()
	var syn *jsontext.SyntacticError
	if !errors.As(err, &syn) {
		return apperr.Invalid("body", "the body must be I-JSON (RFC 7493)")
	}
	param := dotted(syn.JSONPointer)
	if jsontext.Value(body).IsValid(jsontext.AllowInvalidUTF8(true)) {
		return apperr.Invalid("body", "text at byte %d (in %q) is not UTF-8", syn.ByteOffset, cmp.Or(param, "the body"))
	}
	return apperr.Invalid(param, "%s is given twice; give each field once", param)
}

// placeUnknown names an unknown field of err by its place in body:
// encoding/json names it without one, so a nested one ("amount": {"x": 1})
// would be named as "x".
func placeUnknown(err error, body []byte) error {
	var ae *apperr.Error
	if errors.As(err, &ae) && strings.HasPrefix(ae.Message, "unknown field ") {
		if path := memberPath(body, ae.Param); path != "" && path != ae.Param {
			return apperr.Invalid(path, "unknown field %q", path)
		}
	}
	return err
}

// memberPath is the dotted path ("amount.x") of the first member named
// name in body, or "".
func memberPath(body []byte, name string) string {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return ""
		}
		if tok.Kind() != '"' || tok.String() != name {
			continue
		}
		// A name, not a value: the object has read an odd number of tokens.
		if kind, n := dec.StackIndex(dec.StackDepth()); kind == '{' && n%2 == 1 {
			return dotted(dec.StackPointer())
		}
	}
}

// dotted writes a JSON pointer as the API names a field: "amount.x".
func dotted(p jsontext.Pointer) string { return strings.Join(slices.Collect(p.Tokens()), ".") }

func decodeError(err error) error {
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.As(err, &typeErr):
		return apperr.Invalid(typeErr.Field, "%s must be a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr):
		return apperr.Invalid("body", "malformed JSON at byte %d", syntaxErr.Offset)
	case errors.Is(err, io.EOF):
		return apperr.Invalid("body", "the body is empty; send a JSON object")
	}
	// encoding/json reports unknown fields only as text.
	const unknown = "json: unknown field "
	if msg := err.Error(); len(msg) > len(unknown) && msg[:len(unknown)] == unknown {
		field, _ := strconv.Unquote(msg[len(unknown):])
		return apperr.Invalid(field, "unknown field %q", field)
	}
	return apperr.Invalid("body", "malformed JSON: %s", err.Error())
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int64", "int", "int32", "uint64":
		return "integer"
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "map", "struct":
		return "object"
	case "slice":
		return "array"
	}
	return goKind
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("api: encode response: %w", err)
	}
	return nil
}

// writeRawJSON writes body, JSON rendered already, with status and nothing
// added: GET /v1/events/{id} answers exactly the bytes a webhook carries.
func writeRawJSON(w http.ResponseWriter, status int, body []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("api: write response: %w", err)
	}
	return nil
}

// decodeBytes is decode for one element of a larger body; param prefixes the
// names of offending fields.
func decodeBytes(raw []byte, dst any, param string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		err = placeUnknown(decodeError(err), raw)
		if ae, ok := err.(*apperr.Error); ok {
			c := *ae
			c.Param = param + c.Param
			return &c
		}
		return err
	}
	return nil
}
