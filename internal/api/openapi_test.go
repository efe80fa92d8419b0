package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/clock"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// openAPI is the parsed document, with $ref resolution for the parts the
// tests walk.
type openAPI struct {
	t    *testing.T
	root map[string]any
}

func mustOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	var root map[string]any
	if err := yaml.Unmarshal(openAPIDocument, &root); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return &openAPI{t: t, root: root}
}

// resolve follows a local $ref, repeatedly; other values come back as they are.
func (d *openAPI) resolve(v any) map[string]any {
	d.t.Helper()
	m, _ := v.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		m = d.pointer(ref)
	}
	return m
}

func (d *openAPI) pointer(ref string) map[string]any {
	d.t.Helper()
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		d.t.Fatalf("$ref %q is not local", ref)
	}
	var cur any = d.root
	for _, part := range strings.Split(path, "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := cur.(map[string]any)
		if !ok || m[part] == nil {
			d.t.Fatalf("$ref %q does not resolve", ref)
		}
		cur = m[part]
	}
	m, ok := cur.(map[string]any)
	if !ok {
		d.t.Fatalf("$ref %q is not an object", ref)
	}
	return m
}

func (d *openAPI) schema(name string) map[string]any {
	d.t.Helper()
	return d.pointer("#/components/schemas/" + name)
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operation is one documented method and path.
type operation struct {
	method, path string // "POST", "/v1/transfers"
	op           map[string]any
	pathItem     map[string]any
}

func (o operation) String() string { return o.method + " " + o.path }

func (d *openAPI) operations() []operation {
	var out []operation
	paths, _ := d.root["paths"].(map[string]any)
	for path, item := range paths {
		pi := d.resolve(item)
		for _, m := range httpMethods {
			if op, ok := pi[m].(map[string]any); ok {
				out = append(out, operation{method: strings.ToUpper(m), path: path, op: op, pathItem: pi})
			}
		}
	}
	slices.SortFunc(out, func(a, b operation) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// parameters are the operation's and its path item's, resolved.
func (d *openAPI) parameters(o operation) []map[string]any {
	var out []map[string]any
	for _, src := range []any{o.pathItem["parameters"], o.op["parameters"]} {
		list, _ := src.([]any)
		for _, p := range list {
			out = append(out, d.resolve(p))
		}
	}
	return out
}

func (d *openAPI) responses(o operation) map[string]map[string]any {
	out := map[string]map[string]any{}
	rs, _ := o.op["responses"].(map[string]any)
	for status, r := range rs {
		out[status] = d.resolve(r)
	}
	return out
}

// examples returns a media type's example values, resolved.
func (d *openAPI) examples(media map[string]any) map[string]any {
	out := map[string]any{}
	if v, ok := media["example"]; ok {
		out["example"] = v
	}
	exs, _ := media["examples"].(map[string]any)
	for name, ex := range exs {
		out[name] = d.resolve(ex)["value"]
	}
	return out
}

func TestOpenAPIListsExactlyTheRegisteredRoutes(t *testing.T) {
	d := mustOpenAPI(t)
	if v := d.root["openapi"]; v != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", v)
	}
	// The test clock's routes exist only on a server with a test clock;
	// the document marks them with x-kinko-test-clock: true.
	s := New(Config{Auth: keys{}})
	withClock := New(Config{Auth: keys{}, TestClock: &clock.Offset{}})
	registered := map[string]bool{}
	public := map[string]bool{}
	testClock := map[string]bool{}
	for _, rt := range s.Routes() {
		registered[rt.Method+" "+rt.Path] = true
	}
	for _, rt := range withClock.Routes() {
		if !registered[rt.Method+" "+rt.Path] {
			registered[rt.Method+" "+rt.Path] = true
			testClock[rt.Method+" "+rt.Path] = true
		}
	}
	if len(testClock) == 0 {
		t.Error("a server with a test clock registers no route of its own")
	}
	for _, rt := range s.PublicRoutes() {
		registered[rt.Method+" "+rt.Path] = true
		public[rt.Method+" "+rt.Path] = true
	}
	if !public["GET "+OpenAPIPath] {
		t.Errorf("GET %s is not among the public routes", OpenAPIPath)
	}
	documented := map[string]bool{}
	for _, o := range d.operations() {
		documented[o.String()] = true
		if !registered[o.String()] {
			t.Errorf("%s is documented but the server does not register it", o)
		}
		if marked := o.op["x-kinko-test-clock"] == true; marked != testClock[o.String()] {
			t.Errorf("%s: x-kinko-test-clock %v, but registered only with a test clock: %v", o, o.op["x-kinko-test-clock"], testClock[o.String()])
		}
		// Public routes, and only they, need no key.
		sec, declared := o.op["security"].([]any)
		if public[o.String()] != (declared && len(sec) == 0) {
			t.Errorf("%s: security %v, public %v", o, o.op["security"], public[o.String()])
		}
	}
	for r := range registered {
		if !documented[r] {
			t.Errorf("%s is registered but not documented in openapi.yaml", r)
		}
	}
}

func TestOpenAPIOperations(t *testing.T) {
	d := mustOpenAPI(t)
	ids := map[string]string{}
	for _, o := range d.operations() {
		t.Run(o.String(), func(t *testing.T) {
			id, _ := o.op["operationId"].(string)
			if id == "" {
				t.Error("no operationId")
			} else if prev, dup := ids[id]; dup {
				t.Errorf("operationId %s also used by %s", id, prev)
			}
			ids[id] = o.String()
			if o.op["summary"] == nil || o.op["description"] == nil {
				t.Error("no summary or description")
			}
			params := map[string]map[string]any{}
			for _, p := range d.parameters(o) {
				params[p["in"].(string)+":"+p["name"].(string)] = p
			}
			if strings.Contains(o.path, "{id}") && params["path:id"]["required"] != true {
				t.Error("no required path parameter id")
			}
			if params["header:X-Request-Id"] == nil {
				t.Error("no X-Request-Id parameter")
			}

			sec, declared := o.op["security"].([]any)
			public := declared && len(sec) == 0
			responses := d.responses(o)
			ok := false
			for status, r := range responses {
				code, err := strconv.Atoi(status)
				if err != nil {
					t.Errorf("response %q is not a status code", status)
					continue
				}
				headers, _ := r["headers"].(map[string]any)
				if headers["X-Request-Id"] == nil {
					t.Errorf("%d: no X-Request-Id header", code)
				}
				content, _ := r["content"].(map[string]any)
				// A file download may offer its formats' types (GET
				// /v1/payout_batches/{id}/file), and a JSON answer may
				// come as a file too, chosen by the request (GET
				// /v1/billing/customers/{id}/statement: JSON or CSV);
				// errors have one.
				if len(content) != 1 && (code >= 300 || len(content) == 0) {
					t.Errorf("%d: %d media types, want 1", code, len(content))
				}
				for mediaType, m := range content {
					media := d.resolve(m)
					if len(d.examples(media)) == 0 {
						t.Errorf("%d %s: no example", code, mediaType)
					}
					if code >= 400 {
						if name, _ := d.resolveRefName(media["schema"]); mediaType != "application/problem+json" || name != "Problem" {
							t.Errorf("%d: %s, want application/problem+json with the Problem schema", code, mediaType)
						}
						checkProblemExamples(t, code, d.examples(media))
					}
				}
				if code >= 200 && code < 300 {
					ok = true
				}
				// What the handler answers is kept under an Idempotency-Key
				// and replayed; what is answered before it, a 403 or a 5xx, is not.
				if o.method == "POST" {
					replayed := headers["Idempotent-Replayed"] != nil
					switch {
					case (code < 300 || code == 400) && !replayed:
						t.Errorf("%d: may be a replay, but no Idempotent-Replayed header", code)
					case (code == 401 || code == 403 || code == 413 || code == 415 || code == 429 || code >= 500) && replayed:
						t.Errorf("%d: never a replay, but documents Idempotent-Replayed", code)
					}
				}
			}
			if !ok {
				t.Error("no 2xx response")
			}
			want := []string{"500", "401", "403", "429"}
			if o.method == "POST" {
				want = append(want, "400", "409", "413", "415", "422")
				if params["header:Idempotency-Key"] == nil {
					t.Error("POST without the Idempotency-Key header parameter")
				}
				body := d.resolve(o.op["requestBody"])
				media := d.resolve(body["content"].(map[string]any)["application/json"])
				if body["required"] != true || len(d.examples(media)) == 0 {
					t.Error("POST without a required JSON body with an example")
				}
			}
			if public {
				want = nil
			}
			for _, status := range want {
				if responses[status] == nil {
					t.Errorf("no %s response", status)
				}
			}
		})
	}
}

// checkProblemExamples checks that each example problem has the status and
// code the server would give it.
func checkProblemExamples(t *testing.T, status int, examples map[string]any) {
	t.Helper()
	for name, ex := range examples {
		var p problem
		if err := decodeStrict(ex, &p); err != nil {
			t.Errorf("%d example %s: %v", status, name, err)
			continue
		}
		if p.Status != status || statusOfCode(p.Code) != status || p.Type != problemTypeBase+p.Code || p.Title != http.StatusText(status) || p.RequestID == "" {
			t.Errorf("%d example %s: %+v is not what the server answers for code %s (status %d)", status, name, p, p.Code, statusOfCode(p.Code))
		}
	}
}

// statusOfCode is writeError's mapping from a problem code to its status.
func statusOfCode(code string) int {
	if st, ok := statusByCode[code]; ok {
		return st
	}
	if code == apperr.CodeInternal {
		return http.StatusInternalServerError
	}
	return statusOfResult(ledger.Result(code))
}

// decodeStrict decodes a YAML example into dst as the server's JSON would
// be: unknown fields are errors.
func decodeStrict(v any, dst any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}

// ledgerResults reads every ledger.Result constant from the ledger's source,
// so that a new result code cannot be added without documenting it.
func ledgerResults(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "ledger", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("ledger sources: %v", err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "Result" {
					continue
				}
				for _, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: a Result constant that is not a string literal", fset.Position(v.Pos()))
					}
					s, _ := strconv.Unquote(lit.Value)
					out = append(out, s)
				}
			}
		}
	}
	if !slices.Contains(out, string(ledger.ResultInsufficientFunds)) {
		t.Fatalf("found no ledger results in %v", files)
	}
	return out
}

func TestOpenAPIProblemCodesAreEveryCodeTheServerGives(t *testing.T) {
	d := mustOpenAPI(t)
	var enum []string
	for _, v := range d.schema("Problem")["properties"].(map[string]any)["code"].(map[string]any)["enum"].([]any) {
		enum = append(enum, v.(string))
	}
	want := []string{apperr.CodeInternal}
	for code := range statusByCode {
		want = append(want, code)
	}
	for _, r := range ledgerResults(t) {
		if r != string(ledger.ResultOK) {
			want = append(want, r)
		}
	}
	slices.Sort(enum)
	slices.Sort(want)
	for _, c := range want {
		if _, found := slices.BinarySearch(enum, c); !found {
			t.Errorf("code %s is missing from the Problem code enum", c)
		}
	}
	for _, c := range enum {
		if _, found := slices.BinarySearch(want, c); !found {
			t.Errorf("the Problem code enum lists %s, which the server never gives", c)
		}
	}
}

// goJSONFields lists a struct's JSON field names and which of them are
// always present (no omitempty or omitzero).
func goJSONFields(typ reflect.Type) (all, always []string) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			// An embedded struct's fields are encoded as the outer struct's.
			a, b := goJSONFields(f.Type)
			all, always = append(all, a...), append(always, b...)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		all = append(all, name)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			always = append(always, name)
		}
	}
	slices.Sort(all)
	slices.Sort(always)
	return all, always
}

func schemaFields(s map[string]any) (props, required []string) {
	for name := range s["properties"].(map[string]any) {
		props = append(props, name)
	}
	list, _ := s["required"].([]any) // absent when every field is optional
	for _, r := range list {
		required = append(required, r.(string))
	}
	slices.Sort(props)
	slices.Sort(required)
	return props, required
}

// TestOpenAPISchemasMatchTheGoJSON checks every schema against the Go type
// the server encodes or decodes: the same field names; for responses, the
// fields always present are required; request bodies reject unknown fields.
// Then every example of a body decodes into its Go type with unknown fields
// disallowed.
func TestOpenAPISchemasMatchTheGoJSON(t *testing.T) {
	d := mustOpenAPI(t)
	responses := map[string]any{
		"Account": accountJSON{}, "Balance": balanceJSON{}, "Transfer": transferJSON{}, "Money": moneyJSON{},
		"Asset": assetJSON{}, "Problem": problem{}, "BatchItem": batchItem{},
		"AccountList": list[accountJSON]{}, "TransferList": list[transferJSON]{}, "AssetList": list[assetJSON]{},
		"BatchResult": list[batchItem]{}, "EventReplay": eventReplayJSON{},
		"Event": eventJSON{}, "EventData": eventDataJSON{}, "EventList": list[eventJSON]{},
		"WebhookEndpoint": webhookEndpointJSON{}, "NewWebhookEndpoint": newWebhookEndpointJSON{}, "DeletedWebhookEndpoint": deletedJSON{},
		"WebhookEndpointList": list[webhookEndpointJSON]{}, "WebhookAttempt": webhookAttemptJSON{},
		"WebhookAttemptList": list[webhookAttemptJSON]{}, "WebhookDelivery": webhookDeliveryJSON{},
		"WebhookDeliveryList": list[webhookDeliveryJSON]{},
		"Deal":                dealJSON{}, "DealList": list[dealJSON]{}, "DealParty": partyJSON{}, "DealDeadlines": deadlinesJSON{},
		"PaymentInstructions": paymentInstructionsJSON{}, "Milestone": milestoneJSON{},
		"DealTimelineEntry": timelineEntryJSON{}, "DealTimeline": list[timelineEntryJSON]{},
		"DealMessage": messageJSON{}, "DealMessageList": list[messageJSON]{},
		"Deposit": depositJSON{}, "DepositList": list[depositJSON]{}, "TestClock": testClockJSON{},
		"DepositImport": depositImportJSON{}, "DepositCounts": depositCountsJSON{},
		"BankAccount": bankAccountJSON{}, "PayeeBalance": payeeBalanceJSON{},
		"PayoutBatch": payoutBatchJSON{}, "PayoutBatchSummary": payoutBatchSummaryJSON{},
		"PayoutBatchList": list[payoutBatchSummaryJSON]{}, "PayoutItem": payoutItemJSON{}, "PayoutBankAccount": bankAccountSummaryJSON{},
		"BillingCustomer": billingCustomerJSON{}, "BillingCustomerList": list[billingCustomerJSON]{}, "BillingTopUp": topUpJSON{},
		"BillingBalance": billingBalanceJSON{}, "BillingReservation": reservationJSON{}, "BillingReservationList": list[reservationJSON]{},
		"ReservationEvent": reservationEventJSON{}, "BillingCharge": billingChargeJSON{},
		"BillingSession": sessionJSON{}, "BillingUsageReport": usageReportJSON{},
		"BillingStatement": statementJSON{}, "BillingStatementRow": statementRowJSON{},
		"BillingInvoice": invoiceJSON{}, "BillingInvoiceList": list[invoiceJSON]{}, "BillingChargeList": list[billingChargeJSON]{}, "BillingSessionList": list[sessionJSON]{},
	}
	requests := map[string]any{
		"AccountCreate": accountCreate{}, "AssetCreate": assetCreate{}, "TransferCreate": transferCreate{},
		"BatchTransferCreate": transferCreate{}, "BatchCreate": batchCreate{}, "PostTransfer": resolveBody{},
		"VoidTransfer": resolveBody{}, "PostAmount": moneyJSON{},
		"WebhookEndpointCreate": webhookEndpointCreate{}, "WebhookEndpointUpdate": webhookEndpointUpdate{}, "ReplayEvent": eventReplay{},
		"DealCreate": dealCreate{}, "DealPartyCreate": partyCreate{}, "DealDeadlinesCreate": deadlinesCreate{},
		"MilestoneCreate": milestoneCreate{}, "DealAction": dealAction{}, "ShipDeal": shipBody{}, "DisputeDeal": disputeBody{},
		"DealMessageCreate": messageCreate{}, "ResolveDispute": resolveDispute{}, "ReviewDeal": reviewBody{},
		"DepositCreate": depositCreate{}, "ClearDeposit": depositClear{}, "ApplyDeposit": depositApply{}, "TestClockAdvance": testClockAdvance{},
		"DepositImportCreate": depositImport{}, "BankAccountCreate": bankAccountCreate{}, "PayoutBatchCreate": payoutBatchCreate{},
		"SettlePayoutBatch": payoutBatchSettle{}, "ReturnPayoutItem": payoutItemReturn{},
		"BillingCustomerCreate": billingCustomerCreate{}, "CreditLimitUpdate": creditLimitBody{}, "TopUpCreate": topUpCreate{},
		"ReservationCreate": reservationCreate{}, "ReservationIncrement": incrementBody{}, "BillingAction": billingAction{},
		"ChargeCreate": chargeCreate{}, "DirectChargeCreate": directChargeCreate{},
		"SessionCreate": sessionCreate{}, "UsageCreate": usageCreate{}, "SessionTopUpCreate": topUpCreate{},
		"InvoiceCreate": invoiceCreate{},
	}
	// Fields the Go type decodes but the handler refuses, so the document
	// leaves them out.
	refused := map[string][]string{"VoidTransfer": {"amount"}}

	for name, v := range responses {
		props, required := schemaFields(d.schema(name))
		all, always := goJSONFields(reflect.TypeOf(v))
		if !slices.Equal(props, all) || !slices.Equal(required, always) {
			t.Errorf("schema %s: properties %v required %v; Go encodes %v, always %v", name, props, required, all, always)
		}
	}
	for name, v := range requests {
		s := d.schema(name)
		props, _ := schemaFields(s)
		all, _ := goJSONFields(reflect.TypeOf(v))
		all = slices.DeleteFunc(all, func(f string) bool { return slices.Contains(refused[name], f) })
		if !slices.Equal(props, all) {
			t.Errorf("schema %s: properties %v; Go decodes %v", name, props, all)
		}
		if s["additionalProperties"] != false {
			t.Errorf("schema %s: unknown fields are rejected, so additionalProperties must be false", name)
		}
	}

	goType := func(schema any) (any, bool) {
		ref, _ := d.resolveRefName(schema)
		if v, ok := responses[ref]; ok {
			return v, true
		}
		v, ok := requests[ref]
		return v, ok
	}
	for _, o := range d.operations() {
		if body := d.resolve(o.op["requestBody"]); body != nil {
			media := d.resolve(body["content"].(map[string]any)["application/json"])
			checkExamplesDecode(t, o.String()+" request", media, goType, d)
		}
		for status, r := range d.responses(o) {
			content, _ := r["content"].(map[string]any)
			if m, ok := content["application/json"]; ok {
				checkExamplesDecode(t, o.String()+" "+status, d.resolve(m), goType, d)
			}
		}
	}
}

// resolveRefName returns the schema name a {$ref: #/components/schemas/X} names.
func (d *openAPI) resolveRefName(schema any) (string, bool) {
	m, _ := schema.(map[string]any)
	ref, _ := m["$ref"].(string)
	return strings.CutPrefix(ref, "#/components/schemas/")
}

func checkExamplesDecode(t *testing.T, where string, media map[string]any, goType func(any) (any, bool), d *openAPI) {
	t.Helper()
	v, ok := goType(media["schema"])
	if !ok {
		t.Errorf("%s: the schema is not mapped to a Go type in this test", where)
		return
	}
	for name, ex := range d.examples(media) {
		dst := reflect.New(reflect.TypeOf(v)).Interface()
		if err := decodeStrict(ex, dst); err != nil {
			t.Errorf("%s example %s does not decode into %T: %v", where, name, v, err)
		}
	}
}

func TestOpenAPIServedWithoutKey(t *testing.T) {
	h := newHarness(t)
	onDisk, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := h.want(h.do("GET", OpenAPIPath, "", ""), 200, "")
	if ct := r.header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type %q, want application/yaml", ct)
	}
	if r.raw != string(openAPIDocument) || !bytes.Equal(onDisk, openAPIDocument) {
		t.Error("the served document differs from openapi.yaml")
	}
	if r.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	t.Run("OtherMethodsNeedAKey", func(t *testing.T) {
		h.want(h.do("POST", OpenAPIPath, "", `{}`), 401, "unauthenticated")
		h.want(h.do("POST", OpenAPIPath, "k1", `{}`), 405, "method_not_allowed")
	})
	t.Run("Head", func(t *testing.T) {
		r := h.do("HEAD", OpenAPIPath, "", "")
		if r.status != 200 || r.raw != "" || r.header.Get("Content-Length") != fmt.Sprint(len(openAPIDocument)) {
			t.Errorf("HEAD: %d, %d bytes, Content-Length %q", r.status, len(r.raw), r.header.Get("Content-Length"))
		}
	})
}

func schemaEnum(t *testing.T, d *openAPI, name string) []string {
	t.Helper()
	var out []string
	for _, v := range d.schema(name)["enum"].([]any) {
		out = append(out, v.(string))
	}
	return out
}

// TestOpenAPIEventsAndWebhooks keeps the document's event types and webhook
// promises equal to the code's: a new event type, or a changed bound, fails
// until the document says so.
func TestOpenAPIEventsAndWebhooks(t *testing.T) {
	d := mustOpenAPI(t)
	if got := schemaEnum(t, d, "EventType"); !slices.Equal(got, event.Types) {
		t.Errorf("EventType enum %v, want event.Types %v", got, event.Types)
	}
	if got, want := schemaEnum(t, d, "WebhookEventType"), append([]string{webhook.WildcardEventType}, event.Types...); !slices.Equal(got, want) {
		t.Errorf("WebhookEventType enum %v, want %v", got, want)
	}
	info := d.root["info"].(map[string]any)["description"].(string)
	info = strings.Join(strings.Fields(info), " ")
	for _, want := range append(slices.Clone(event.Types),
		webhook.SignatureHeader+": t=<unix seconds>,v1=<signature>",
		webhook.EventIDHeader+": evt_",
		"HMAC-SHA256",
		"`<t>.<raw body>`",
		webhook.SecretPrefix,
		fmt.Sprintf("until %d hours after the delivery was queued", int(webhook.RetryWindow.Hours())),
		fmt.Sprintf("more than %d minutes from your clock", int(webhook.SignatureToleranceDefault.Minutes())),
		fmt.Sprintf("within %d seconds", int(webhook.RequestTimeout.Seconds())),
		fmt.Sprintf("from %d seconds, doubling, at most an hour apart", int(webhook.BackoffBaseDefault.Seconds())),
		fmt.Sprintf("up to %d endpoints", webhook.EndpointsPerOrgMax),
		"at least once",
		"deduplicate by event id",
	) {
		if !strings.Contains(info, want) {
			t.Errorf("info.description does not say %q", want)
		}
	}
	if webhook.BackoffCap != time.Hour {
		t.Errorf("webhook.BackoffCap is %v; the document says an hour", webhook.BackoffCap)
	}
	attempt := d.schema("WebhookAttempt")["properties"].(map[string]any)
	if s := attempt["response_snippet"].(map[string]any)["description"].(string); !strings.Contains(s, fmt.Sprintf("first %d bytes", webhook.ResponseSnippetMax)) {
		t.Errorf("response_snippet: %q does not give webhook.ResponseSnippetMax", s)
	}
	if n := attempt["error"].(map[string]any)["maxLength"]; n != webhook.AttemptErrorLenMax {
		t.Errorf("error maxLength %v, want webhook.AttemptErrorLenMax %d", n, webhook.AttemptErrorLenMax)
	}
	for name, want := range map[string]int{"WebhookURL": webhook.URLLenMax, "WebhookDescription": webhook.DescriptionLenMax} {
		if n := d.schema(name)["maxLength"]; n != want {
			t.Errorf("%s maxLength %v, want %d", name, n, want)
		}
	}
	if n := d.schema("WebhookEventTypes")["maxItems"]; n != webhook.EventTypesMax {
		t.Errorf("WebhookEventTypes maxItems %v, want webhook.EventTypesMax %d", n, webhook.EventTypesMax)
	}
}

// TestQueryParamsAreTheDocuments: the query parameters the server accepts
// per route (queryParams, read from the embedded document at start) are
// exactly those the document gives each operation, its path's included.
func TestQueryParamsAreTheDocuments(t *testing.T) {
	d := mustOpenAPI(t)
	ops := d.operations()
	if len(queryParams) != len(ops) {
		t.Errorf("queryParams has %d routes; the document %d operations", len(queryParams), len(ops))
	}
	for _, o := range ops {
		want := map[string]bool{}
		for _, params := range []any{o.pathItem["parameters"], o.op["parameters"]} {
			list, _ := params.([]any)
			for _, p := range list {
				if pm := d.resolve(p); pm["in"] == "query" {
					want[pm["name"].(string)] = true
				}
			}
		}
		if got := queryParams[o.String()]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: query parameters %v, the document says %v", o, got, want)
		}
	}
	if got := queryParams["GET /v1/transfers"]; !got["created_gte"] || !got["starting_after"] || !got["limit"] {
		t.Errorf("GET /v1/transfers takes %v", got)
	}
}
