package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/kinko-pay/kinko/internal/ledger"
)

// Bounds of the server.
const (
	addrDefault           = "127.0.0.1:8080"
	expiryInterval        = time.Second      // how often due holds are swept
	readyPingTimeout      = 2 * time.Second  // /readyz answers 503 when the store takes longer
	shutdownTimeout       = 15 * time.Second // in-flight requests get this long after a signal
	readHeaderTimeout     = 5 * time.Second
	readTimeout           = 30 * time.Second
	writeTimeout          = 30 * time.Second
	idleTimeout           = 2 * time.Minute
	requestHeaderBytesMax = 64 << 10
)

// serveConfig is everything serve needs; tests build one directly.
type serveConfig struct {
	DB     string
	Addr   string
	Logger *slog.Logger // nil discards
}

func runServe(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "serve")
	db := dbFlag(fs, e)
	addr := fs.String("addr", envOr(e, "KINKO_ADDR", addrDefault), "address to listen on (env KINKO_ADDR)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
	err := serve(ctx, serveConfig{DB: *db, Addr: *addr, Logger: logger}, nil)
	if err != nil {
		logger.Error("serve failed", "err", err)
		return exitError{exitFailure}
	}
	return nil
}

// serve opens the store, applies migrations, starts the ledger engine and its
// expiry sweep and answers HTTP on cfg.Addr until ctx ends. Then it stops
// accepting connections, lets in-flight requests finish (bounded by
// shutdownTimeout), drains the engine and closes the store. It returns nil
// after a clean shutdown. onListening, when set, is called with the address
// actually listened on (useful with port 0) once requests are being served.
func serve(ctx context.Context, cfg serveConfig, onListening func(addr string)) (err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger

	st, applied, err := openStore(ctx, cfg.DB)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("serve: close store: %w", cerr))
		}
	}()
	log.Info("store open", "store", st.Kind(), "db", redactDB(cfg.DB), "migrations_applied", applied)

	engine := ledger.NewEngine(st, engineConfig(st.Kind()))
	// Closing the engine commits what is queued; it runs after the HTTP server
	// and the sweep have stopped submitting.
	defer engine.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           newHandler(st, readyPingTimeout, log),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    requestHeaderBytesMax,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	sweepCtx, stopSweep := context.WithCancel(context.Background())
	var sweep sync.WaitGroup
	sweep.Go(func() {
		engine.RunExpiry(sweepCtx, expiryInterval, func(err error) {
			log.Error("expiry sweep failed", "err", err)
		})
	})
	defer func() {
		stopSweep()
		sweep.Wait()
	}()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	if onListening != nil {
		onListening(ln.Addr().String())
	}

	select {
	case err := <-served:
		// Serve never returns nil; anything here is a failure to accept.
		return fmt.Errorf("serve: http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
		return fmt.Errorf("serve: shutdown http: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: http: %w", err)
	}
	log.Info("stopped")
	return nil
}

// pinger is what the health handlers need of the store.
type pinger interface {
	Ping(ctx context.Context) error
}

// newHandler routes the operational endpoints:
//
//	GET /healthz  200 {"status":"ok"} while the process runs
//	GET /readyz   200 {"status":"ok"} when the store answers a ping within
//	              readyTimeout, else 503 {"status":"unavailable","reason":…}
func newHandler(st pinger, readyTimeout time.Duration, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			// The reason stays generic; the log has the full error.
			reason := "store ping failed"
			if errors.Is(err, context.DeadlineExceeded) {
				reason = fmt.Sprintf("store did not answer within %s", readyTimeout)
			}
			log.Warn("not ready", "reason", reason, "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
