package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveWaitMax bounds how long a test waits for the server to start or stop;
// it only turns a hang into a failure and measures nothing.
const serveWaitMax = time.Minute

func TestServe(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "kinko.db")
		srv := startServe(t, db)
		for _, path := range []string{"/healthz", "/readyz"} {
			status, body := get(t, "http://"+srv.addr+path)
			if status != http.StatusOK || body["status"] != "ok" {
				t.Errorf("GET %s = %d %v, want 200 {status: ok}", path, status, body)
			}
		}
		mustExist(t, db)
		if err := srv.stop(t); err != nil {
			t.Fatalf("serve after cancel: %v, want a clean return", err)
		}
		if _, err := http.Get("http://" + srv.addr + "/healthz"); err == nil {
			t.Error("server still answers after serve returned")
		}
	})

	t.Run("ErrListen", func(t *testing.T) {
		taken := httptest.NewServer(http.NotFoundHandler())
		defer taken.Close()
		db := filepath.Join(t.TempDir(), "kinko.db")
		err := serve(context.Background(), serveConfig{DB: db, Addr: taken.Listener.Addr().String(), Logger: testLogger(t)}, nil)
		if err == nil {
			t.Fatal("serve on a taken address returned nil")
		}
	})
}

func TestServeDebug(t *testing.T) {
	addr, stop, err := serveDebug("127.0.0.1:0", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile:") {
		t.Errorf("GET /debug/pprof/goroutine = %d %.80q, want 200 and a goroutine profile", resp.StatusCode, body)
	}
	// The command line is not served: it may hold the database's password.
	resp, err = http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || strings.Contains(string(body), os.Args[0]) {
		t.Errorf("GET /debug/pprof/cmdline = %d %.80q, want no command line", resp.StatusCode, body)
	}
	stop()
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Error("the debug listener still answers after stop")
	}

	t.Run("ErrListen", func(t *testing.T) {
		taken := httptest.NewServer(http.NotFoundHandler())
		defer taken.Close()
		db := filepath.Join(t.TempDir(), "kinko.db")
		err := serve(context.Background(), serveConfig{DB: db, Addr: "127.0.0.1:0", DebugAddr: taken.Listener.Addr().String(), Logger: testLogger(t)}, nil)
		if err == nil || !strings.Contains(err.Error(), "debug listener") {
			t.Fatalf("serve with a taken debug address = %v, want a debug listener error", err)
		}
	})
}

func TestReadyz(t *testing.T) {
	t.Run("ErrStoreClosed", func(t *testing.T) {
		st, _, err := openStore(context.Background(), filepath.Join(t.TempDir(), "kinko.db"))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(newHandler(st, readyPingTimeout, testLogger(t), nil, nil, nil))
		defer srv.Close()
		status, body := get(t, srv.URL+"/readyz")
		if status != http.StatusServiceUnavailable || body["status"] != "unavailable" || body["reason"] == "" {
			t.Errorf("GET /readyz = %d %v, want 503 with status unavailable and a reason", status, body)
		}
		// Liveness does not depend on the store.
		if status, _ := get(t, srv.URL+"/healthz"); status != http.StatusOK {
			t.Errorf("GET /healthz = %d, want 200", status)
		}
	})

	t.Run("ErrStoreSilent", func(t *testing.T) {
		srv := httptest.NewServer(newHandler(silentStore{}, time.Millisecond, testLogger(t), nil, nil, nil))
		defer srv.Close()
		status, body := get(t, srv.URL+"/readyz")
		if status != http.StatusServiceUnavailable || body["reason"] == "" {
			t.Errorf("GET /readyz = %d %v, want 503 with a reason", status, body)
		}
	})

	t.Run("MethodNotAllowed", func(t *testing.T) {
		srv := httptest.NewServer(newHandler(silentStore{}, time.Millisecond, testLogger(t), nil, nil, nil))
		defer srv.Close()
		resp, err := http.Post(srv.URL+"/healthz", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /healthz = %d, want 405", resp.StatusCode)
		}
	})
}

// runningServer is the real server running in-process.
type runningServer struct {
	addr     string
	cancel   context.CancelFunc
	returned chan error
}

// startServe runs serve on db and 127.0.0.1:0 until the test stops it (or ends).
func startServe(t *testing.T, db string) *runningServer {
	t.Helper()
	return startServeConfig(t, serveConfig{DB: db})
}

// startServeConfig is startServe with more of the configuration; Addr,
// Logger and Stderr are set here.
func startServeConfig(t *testing.T, cfg serveConfig) *runningServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := &runningServer{cancel: cancel, returned: make(chan error, 1)}
	listening := make(chan string, 1)
	cfg.Addr, cfg.Logger, cfg.Stderr = "127.0.0.1:0", testLogger(t), testWriter{t}
	go func() {
		srv.returned <- serve(ctx, cfg, func(addr string) { listening <- addr })
	}()
	select {
	case srv.addr = <-listening:
	case err := <-srv.returned:
		cancel()
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(serveWaitMax):
		cancel()
		t.Fatal("serve did not start listening")
	}
	t.Cleanup(func() {
		// Stop a server the test did not stop; stop is idempotent.
		srv.stop(t)
	})
	return srv
}

// stop cancels the server's context, as SIGTERM does, and returns what serve returned.
func (s *runningServer) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err, ok := <-s.returned:
		if ok {
			close(s.returned)
		}
		return err
	case <-time.After(serveWaitMax):
		t.Fatal("serve did not return after its context was cancelled")
		return nil
	}
}

// silentStore never answers a ping: a database that hangs.
type silentStore struct{}

func (silentStore) Ping(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// get fetches url and decodes its JSON object body.
func get(t *testing.T, url string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q, want application/json", url, ct)
	}
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("GET %s: decode body: %v", url, err)
	}
	return resp.StatusCode, body
}

// testLogger sends the server's JSON log lines to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewJSONHandler(testWriter{t}, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
