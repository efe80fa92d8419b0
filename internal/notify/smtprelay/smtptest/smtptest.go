// Package smtptest runs a real SMTP server in the test process, on
// 127.0.0.1 and a random port, that keeps what it receives and answers as
// the test tells it (a 4xx or 5xx at RCPT or after DATA), as
// net/http/httptest does for HTTP. It must never be imported outside tests.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Stage is where in a message the server answers.
type Stage string

const (
	StageRcpt Stage = "rcpt" // the RCPT TO command
	StageData Stage = "data" // the end of the message's data
)

// Answer decides the server's reply at a stage: nil accepts, an error from
// Reply refuses with its code. n counts the times the stage was reached,
// from 1, over the server's life. It may block (to hold a message in
// flight); it runs on the session's goroutine.
type Answer func(stage Stage, n int) error

// Reply is an SMTP answer with code (e.g. 451 or 550) for an Answer.
func Reply(code int, text string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: text}
}

// Message is one message the server accepted.
type Message struct {
	From string   // MAIL FROM
	To   []string // RCPT TO
	Data []byte   // the message as sent, CRLF line ends
}

// Options configures a Server.
type Options struct {
	// TLS makes the server offer STARTTLS with a certificate for 127.0.0.1;
	// the client must trust Server.RootCAs.
	TLS bool
	// Username and Password, when set, are required (AUTH PLAIN, after
	// STARTTLS) before MAIL.
	Username, Password string
}

// Server is a running SMTP server. Its methods are safe for concurrent use.
type Server struct {
	Host    string
	Port    int
	RootCAs *x509.CertPool // trusts the server's certificate (Options.TLS)

	srv  *smtp.Server
	opts Options

	mu       sync.Mutex
	answer   Answer
	reached  map[Stage]int
	messages []Message
	refused  []Message
	sessions int
	conns    map[*smtp.Conn]bool
}

// Start starts a server, stopped when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{Host: "127.0.0.1", opts: opts, reached: map[Stage]int{}, conns: map[*smtp.Conn]bool{}}
	s.srv = smtp.NewServer(smtp.BackendFunc(s.newSession))
	s.srv.Domain = "smtptest.localhost"
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	s.srv.MaxMessageBytes = 4 << 20
	s.srv.MaxRecipients = 10
	s.srv.ErrorLog = discard{}
	if opts.TLS {
		cert, pool, err := selfSigned(s.Host)
		if err != nil {
			tb.Fatalf("smtptest: certificate: %v", err)
		}
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.RootCAs = pool
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.Host, "0"))
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		_ = s.srv.Close()
		_ = ln.Close() // Close misses a listener that Serve has not registered yet
		<-done
	})
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// SetAnswer replaces how the server answers; nil accepts everything.
func (s *Server) SetAnswer(a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = a
}

// Messages returns the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Refused returns the messages whose data arrived but that the Answer
// refused after DATA, in order.
func (s *Server) Refused() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.refused...)
}

// Sessions counts the connections the server has accepted.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// DropConnections closes every open connection, as a relay does to
// clients idle too long.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := s.conns
	s.conns = map[*smtp.Conn]bool{}
	s.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// ask runs the answer for stage.
func (s *Server) ask(stage Stage) error {
	s.mu.Lock()
	s.reached[stage]++
	n, a := s.reached[stage], s.answer
	s.mu.Unlock()
	if a == nil {
		return nil
	}
	return a(stage, n)
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions++
	s.conns[c] = true
	return &session{s: s, conn: c}, nil
}

// session is one connection's state.
type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	msg    Message
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.opts.Username || password != ss.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.msg = Message{From: from}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.s.ask(StageRcpt); err != nil {
		return err
	}
	ss.msg.To = append(ss.msg.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	ss.msg.Data = buf.Bytes()
	if err := ss.s.ask(StageData); err != nil {
		ss.s.mu.Lock()
		ss.s.refused = append(ss.s.refused, ss.msg)
		ss.s.mu.Unlock()
		return err
	}
	ss.s.mu.Lock()
	ss.s.messages = append(ss.s.messages, ss.msg)
	ss.s.mu.Unlock()
	ss.msg = Message{}
	return nil
}

func (ss *session) Reset() { ss.msg = Message{} }

func (ss *session) Logout() error {
	ss.s.mu.Lock()
	delete(ss.s.conns, ss.conn)
	ss.s.mu.Unlock()
	return nil
}

// selfSigned makes a certificate for host (an IP address) and a pool that
// trusts it.
func selfSigned(host string) (tls.Certificate, *x509.CertPool, error) {
	ip := net.ParseIP(host)
	if ip == nil {
		return tls.Certificate{}, nil, errors.New("host must be an IP address")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtptest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{ip},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// discard drops the server's own log lines (a client hanging up mid-session
// is what some tests do on purpose).
type discard struct{}

func (discard) Printf(string, ...any) {}
func (discard) Println(...any)        {}
