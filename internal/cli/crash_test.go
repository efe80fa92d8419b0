package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// runKinkoEnv makes the test binary run kinko itself (TestMain): its value
// is the arguments, one per line. The crash test kills such a process.
const runKinkoEnv = "KINKO_TEST_RUN_KINKO"

func TestMain(m *testing.M) {
	if args := os.Getenv(runKinkoEnv); args != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, strings.Split(args, "\n"), os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// childServer is kinko serve in a process of its own, which the test can
// kill -9 and start again on the same database and address.
type childServer struct {
	t    *testing.T
	args []string
	base string
	log  string
	cmd  *exec.Cmd
	done chan error // the process's exit, once it is waited for
}

// childStartMax bounds how long a started server may take to answer.
const childStartMax = 60 * time.Second

func newChildServer(t *testing.T, db string, extra ...string) *childServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &childServer{t: t, base: "http://" + addr, log: filepath.Join(t.TempDir(), "serve.log"),
		args: append([]string{"serve", "--db", db, "--addr", addr, "--rate-per-key", "-1"}, extra...)}
	t.Cleanup(func() {
		if s.cmd != nil {
			s.cmd.Process.Signal(syscall.SIGTERM)
			<-s.done
		}
	})
	return s
}

// start runs the server and waits until it answers.
func (s *childServer) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	s.cmd = exec.Command(os.Args[0], "-test.run=^$")
	s.cmd.Env = append(os.Environ(), runKinkoEnv+"="+strings.Join(s.args, "\n"))
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(s.cmd, s.done)
	for deadline := time.Now().Add(childStartMax); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-s.done:
			s.cmd = nil
			s.t.Fatalf("kinko serve exited at start (%v):\n%s", err, s.logTail())
		default:
		}
		if r, err := http.Get(s.base + "/v1/openapi.yaml"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
	}
	s.t.Fatalf("kinko serve did not answer within %s:\n%s", childStartMax, s.logTail())
}

// crash kills the server with SIGKILL: nothing of it runs after.
func (s *childServer) crash() {
	s.t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		s.t.Fatal(err)
	}
	<-s.done
	s.cmd = nil
}

// stop ends the server with SIGTERM, as an operator would.
func (s *childServer) stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-s.done; err != nil {
		s.t.Fatalf("kinko serve after SIGTERM: %v\n%s", err, s.logTail())
	}
	s.cmd = nil
}

func (s *childServer) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// crashOp is one keyed POST of the crash test's workload.
type crashOp struct {
	path, body, key string
	refused         bool   // the request is invalid: 400, and nothing changes
	status          int    // the first answer
	answer          []byte // its body
}

// answer is an HTTP answer the crash test read whole.
type answer struct {
	status   int
	body     []byte
	replayed bool
}

// post sends one request; err is a transport failure (the server is down
// or died mid-request).
func post(ctx context.Context, base, key, path, body, idem string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", base+path, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return answer{status: r.StatusCode, body: b, replayed: r.Header.Get("Idempotent-Replayed") == "true"}, err
}

// getJSON reads path into v, failing the test on anything but 200.
func getJSON(t *testing.T, base, key, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, r.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

// crashRetryMax bounds how long one request may go unanswered through the
// crashes. A key whose claim outlived its request would answer 409 for
// two minutes (idempotency.ClaimTimeout): the routes here keep their keys
// with their changes and leave no claim.
const crashRetryMax = 45 * time.Second

// TestCrashRetrySafety kills kinko serve with SIGKILL three times while 16
// clients send keyed transfers, account openings, billing top-ups and
// direct charges, and escrow deals (without external_ref), some of them
// invalid, retrying every unanswered request with its key and body until
// it is answered. Then every valid request was applied exactly once and
// every invalid one refused: balances and counts match, every answer
// replays byte for byte, and kinko verify is clean. No retry waits for a
// claim stranded by a crash.
func TestCrashRetrySafety(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a server three times")
	}
	crashRetrySafety(t, filepath.Join(t.TempDir(), "kinko.db"))
}

// TestPostgresCrashRetrySafety is TestCrashRetrySafety on PostgreSQL.
func TestPostgresCrashRetrySafety(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a server three times")
	}
	crashRetrySafety(t, freshPostgres(t))
}

func crashRetrySafety(t *testing.T, db string) {
	admin := cliOut(t, "keys", "create", "--db", db, "--scopes", "admin")
	org := cliOut(t, "orgs", "create", "--db", db, "--name", "Crash Test")
	key := cliOut(t, "keys", "create", "--db", db, "--org", org, "--scopes", "accounts:write,transfers:write,billing:write,escrow:write")
	srv := newChildServer(t, db)
	srv.start()
	ctx := context.Background()
	setup := func(path, body string) map[string]any {
		t.Helper()
		k := admin
		if path != "/v1/assets" {
			k = key
		}
		a, err := post(ctx, srv.base, k, path, body, "")
		if err != nil || a.status >= 300 {
			t.Fatalf("POST %s: %d %s %v", path, a.status, a.body, err)
		}
		var out map[string]any
		json.Unmarshal(a.body, &out)
		return out
	}
	jpy := func(n int64) string { return fmt.Sprintf(`{"amount":%d,"currency":"JPY"}`, n) }
	setup("/v1/assets", `{"code":"JPY","scale":0}`)
	accts := make([]string, 6)
	for i := range accts {
		accts[i] = setup("/v1/accounts", fmt.Sprintf(`{"reference":"crash-base-%d","currency":"JPY"}`, i))["id"].(string)
	}
	prepaid := setup("/v1/billing/customers", `{"reference":"crash-pre","mode":"prepaid","currency":"JPY"}`)["id"].(string)
	postpaid := setup("/v1/billing/customers", `{"reference":"crash-post","mode":"postpaid","currency":"JPY","credit_limit":`+jpy(1_000_000_000)+`}`)["id"].(string)

	// The workload, and what it must leave once each request applied once.
	rng := rand.New(rand.NewPCG(1, 2))
	var ops []*crashOp
	flow := make([]int64, len(accts)) // credits minus debits
	var toppedUp, charged int64
	const transfers, openings, topUps, charges, deals, badDeals = 240, 40, 60, 60, 40, 20
	for i := range transfers {
		d := rng.IntN(len(accts))
		c := (d + 1 + rng.IntN(len(accts)-1)) % len(accts)
		n := 1 + rng.Int64N(1000)
		flow[d], flow[c] = flow[d]-n, flow[c]+n
		ops = append(ops, &crashOp{path: "/v1/transfers", key: fmt.Sprint("t-", i),
			body: fmt.Sprintf(`{"reference":"crash-t-%d","debit_account":%q,"credit_account":%q,"amount":%s}`, i, accts[d], accts[c], jpy(n))})
	}
	for i := range openings {
		ops = append(ops, &crashOp{path: "/v1/accounts", key: fmt.Sprint("a-", i), body: fmt.Sprintf(`{"reference":"crash-open-%d","currency":"JPY"}`, i)})
	}
	for i := range topUps {
		n := 1 + rng.Int64N(1000)
		toppedUp += n
		ops = append(ops, &crashOp{path: "/v1/billing/customers/" + prepaid + "/top_ups", key: fmt.Sprint("u-", i),
			body: fmt.Sprintf(`{"amount":%s,"reference":"crash-u-%d"}`, jpy(n), i)})
	}
	for i := range charges {
		n := 1 + rng.Int64N(1000)
		charged += n
		ops = append(ops, &crashOp{path: "/v1/billing/charges", key: fmt.Sprint("c-", i),
			body: fmt.Sprintf(`{"customer":%q,"amount":%s,"reference":"crash-c-%d"}`, postpaid, jpy(n), i)})
	}
	deal := func(i int, feePayer string) string {
		return fmt.Sprintf(`{"title":"crash deal %d","price":%s,"fee_payer":%q,"seller":{"email":"seller%d@example.com"},"buyer":{"email":"buyer%d@example.com"}}`,
			i, jpy(1000+int64(i)), feePayer, i, i)
	}
	for i := range deals {
		ops = append(ops, &crashOp{path: "/v1/deals", key: fmt.Sprint("d-", i), body: deal(i, "buyer")})
	}
	for i := range badDeals {
		ops = append(ops, &crashOp{path: "/v1/deals", key: fmt.Sprint("bad-", i), body: deal(deals+i, "nobody"), refused: true})
	}
	rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })

	// 16 clients send the workload; a crash comes after each quarter of it.
	var answered, cut atomic.Int64
	var failed atomic.Value
	work := make(chan *crashOp)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for op := range work {
				deadline := time.Now().Add(crashRetryMax)
				for {
					a, err := post(ctx, srv.base, key, op.path, op.body, op.key)
					inUse := a.status == 409 && bytes.Contains(a.body, []byte(`"idempotency_key_in_use"`))
					if err == nil && a.status < 500 && !inUse {
						op.status, op.answer = a.status, a.body
						break
					}
					if err != nil {
						cut.Add(1)
					}
					if time.Now().After(deadline) {
						failed.CompareAndSwap(nil, fmt.Sprintf("%s %s unanswered for %s: %d %s %v", op.path, op.key, crashRetryMax, a.status, a.body, err))
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				answered.Add(1)
			}
		})
	}
	go func() {
		for _, op := range ops {
			work <- op
		}
		close(work)
	}()
	for crash := 1; crash <= 3; crash++ {
		for answered.Load() < int64(crash*len(ops)/4) {
			time.Sleep(5 * time.Millisecond)
		}
		srv.crash()
		began := time.Now()
		srv.start()
		t.Logf("crash %d after %d answers: restarted in %s", crash, answered.Load(), time.Since(began).Round(time.Millisecond))
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}
	t.Logf("%d requests, %d sends cut by 3 crashes or refused while the server restarted", len(ops), cut.Load())

	// Every request was applied: its first answer is a success, and a
	// retry now replays it byte for byte.
	for _, op := range ops {
		if ok := op.status == 200 || op.status == 201; ok == op.refused || op.refused && op.status != 400 {
			t.Fatalf("%s %s (refused %v): %d %s", op.path, op.key, op.refused, op.status, op.answer)
		}
		a, err := post(ctx, srv.base, key, op.path, op.body, op.key)
		if err != nil || a.status != op.status || !a.replayed || !bytes.Equal(a.body, op.answer) {
			t.Fatalf("%s %s replayed as %d (replayed %v) %s %v; first %d %s", op.path, op.key, a.status, a.replayed, a.body, err, op.status, op.answer)
		}
	}
	// ... and once: balances and counts are what the workload adds up to.
	for i, id := range accts {
		var b struct {
			DebitsPosted  int64 `json:"debits_posted"`
			CreditsPosted int64 `json:"credits_posted"`
		}
		getJSON(t, srv.base, key, "/v1/accounts/"+id+"/balance", &b)
		if got := b.CreditsPosted - b.DebitsPosted; got != flow[i] {
			t.Errorf("account %s: credits minus debits %d, want %d", id, got, flow[i])
		}
	}
	var bal struct {
		Balance, Used struct{ Amount int64 }
	}
	getJSON(t, srv.base, key, "/v1/billing/customers/"+prepaid+"/balance", &bal)
	if bal.Balance.Amount != toppedUp {
		t.Errorf("prepaid balance %d, want the top-ups' %d", bal.Balance.Amount, toppedUp)
	}
	getJSON(t, srv.base, key, "/v1/billing/customers/"+postpaid+"/balance", &bal)
	if bal.Used.Amount != charged {
		t.Errorf("postpaid used %d, want the charges' %d", bal.Used.Amount, charged)
	}
	count := func(path, field, prefix string) int {
		n := 0
		for after := ""; ; {
			var page struct {
				Data    []map[string]any `json:"data"`
				HasMore bool             `json:"has_more"`
			}
			getJSON(t, srv.base, key, path+"?limit=100"+after, &page)
			for _, o := range page.Data {
				if s, _ := o[field].(string); strings.HasPrefix(s, prefix) {
					n++
				}
			}
			if !page.HasMore {
				return n
			}
			after = "&starting_after=" + page.Data[len(page.Data)-1]["id"].(string)
		}
	}
	if n := count("/v1/accounts", "reference", "crash-open-"); n != openings {
		t.Errorf("%d accounts opened, want %d", n, openings)
	}
	if n := count("/v1/deals", "title", "crash deal "); n != deals {
		t.Errorf("%d deals, want %d", n, deals)
	}
	srv.stop()
	if r := runCLI(t, nil, "verify", "--db", db); r.code != exitOK {
		t.Fatalf("kinko verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
