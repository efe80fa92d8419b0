package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/client"
)

// TestBenchAPIAgainstServer runs bench api against the real server: every
// request is answered as a new transfer, and the ledger holds one transfer
// per request, each with the reference the bench gave it.
func TestBenchAPIAgainstServer(t *testing.T) {
	for _, keyed := range []bool{true, false} {
		name := "Keyed"
		if !keyed {
			name = "Unkeyed"
		}
		t.Run(name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "kinko.db")
			r := runCLI(t, nil, "keys", "create", "--db", db, "--scopes", "admin", "--name", "bench")
			if r.code != exitOK {
				t.Fatalf("keys create: exit %d: %s", r.code, r.stderr)
			}
			secret := strings.TrimSpace(r.stdout)
			srv := startServe(t, db)
			base := "http://" + srv.addr
			res, err := benchAPI(context.Background(), benchAPIConfig{URL: base, Key: secret, Concurrency: 4, Duration: 300 * time.Millisecond,
				Accounts: 3, NoIdemKeys: !keyed}, newProgress(io.Discard))
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests == 0 || res.Errors != 0 || res.Rejected != 0 {
				t.Fatalf("bench api = %+v", res)
			}
			c := client.New(base, secret, nil)
			var n int64
			after := ""
			for {
				page, err := c.ListTransfers(context.Background(), client.TransferQuery{ListParams: client.ListParams{Limit: 100, StartingAfter: after}})
				if err != nil {
					t.Fatal(err)
				}
				for _, tr := range page.Data {
					if !strings.HasPrefix(tr.Reference, res.RunID+"-t-") {
						t.Fatalf("transfer %+v was not made by the bench", tr)
					}
					n++
					after = tr.ID
				}
				if !page.HasMore {
					break
				}
			}
			if n != res.Requests {
				t.Fatalf("%d transfers in the ledger, %d requests answered", n, res.Requests)
			}
		})
	}
}

// TestBenchConnAnswers checks how benchConn reads answers it rarely gets
// from a healthy server: problems, retries, bodies that are not the
// transfer, chunked bodies and closed connections.
func TestBenchConnAnswers(t *testing.T) {
	transfer := func(ref string) string {
		return `{"object":"transfer","id":"tr_1","reference":"` + ref + `","kind":"immediate"}` + "\n"
	}
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		var in client.TransferParams
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || r.Method != http.MethodPost || r.URL.Path != "/v1/transfers" ||
			r.Header.Get("Authorization") != "Bearer k" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Request-Id", "req_1")
		switch in.Reference {
		case "ok":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, transfer("ok"))
		case "chunked-close":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, transfer("chunked-close"))
			w.(http.Flusher).Flush() // makes the body chunked
		case "other-ref":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, transfer("someone-else"))
		case "funds":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"status":422,"code":"insufficient_funds","detail":"no"}`)
		case "flaky":
			if r.Header.Get("Idempotency-Key") != "flaky" {
				http.Error(w, "no key", http.StatusBadRequest)
				return
			}
			if n%2 == 1 {
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, transfer("flaky"))
		}
	}))
	defer srv.Close()
	bc, ok := newBenchConn(srv.URL+"/", "k")
	if !ok {
		t.Fatal("an http URL was not taken")
	}
	defer bc.Close()
	if _, ok := newBenchConn("https://example.com", "k"); ok {
		t.Fatal("an https URL was taken")
	}
	send := func(ref, key string) error {
		return bc.CreateTransfer(context.Background(), apiTransfer{Reference: ref, DebitAccount: "acc_1", CreditAccount: "acc_2",
			Amount: 5, Currency: "JPY", IdempotencyKey: key})
	}
	t.Run("OK", func(t *testing.T) {
		for range 3 {
			if err := send("ok", "ok"); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("ChunkedAndClosed", func(t *testing.T) {
		if err := send("chunked-close", ""); err != nil {
			t.Fatal(err)
		}
		if bc.conn != nil {
			t.Fatal("the connection the server closed was kept")
		}
		if err := send("ok", ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrNotTheTransfer", func(t *testing.T) {
		if err := send("other-ref", ""); err == nil || client.CodeOf(err) != "" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrProblem", func(t *testing.T) {
		err := send("funds", "funds")
		if client.CodeOf(err) != "insufficient_funds" || !strings.Contains(err.Error(), "req_1") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("RetriedWithItsKey", func(t *testing.T) {
		calls.Store(0)
		if err := send("flaky", "flaky"); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != 2 {
			t.Fatalf("%d calls, want 2", calls.Load())
		}
	})
	t.Run("ErrNotRetriedWithoutKey", func(t *testing.T) {
		calls.Store(0)
		if err := send("flaky", ""); err == nil {
			t.Fatal("no error")
		}
		if calls.Load() != 1 {
			t.Fatalf("%d calls, want 1", calls.Load())
		}
	})
}

// TestBenchConnBody checks that the body is the one client.CreateTransfer
// sends, whatever the text.
func TestBenchConnBody(t *testing.T) {
	for _, ref := range []string{"bench-1-t-2", `q"uote<&>`, "日本", "tab\there"} {
		var bc benchConn
		tr := apiTransfer{Reference: ref, DebitAccount: "acc_1", CreditAccount: "acc_2", Amount: 77, Currency: "JPY"}
		bc.encodeBody(tr)
		want, _ := json.Marshal(client.TransferParams{Reference: ref, DebitAccount: "acc_1", CreditAccount: "acc_2",
			Amount: client.Money{Amount: 77, Currency: "JPY"}})
		if string(bc.body) != string(want) {
			t.Errorf("body %s, want %s", bc.body, want)
		}
		if !isTransferJSON(append([]byte(`{"object":"transfer","id":"tr_1","reference":`), append(mustJSON(t, ref), '}')...), ref) {
			t.Errorf("the transfer with reference %q was not recognised", ref)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
