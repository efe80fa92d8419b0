// Package smtprelay sends Kinko's mail through an SMTP relay: the
// operator's own mail server or a provider's submission service, configured
// by one URL (ParseURL). Its Sender implements notify.Sender: it builds a
// MIME message (text, and HTML as an alternative), keeps a few connections
// open between mails, and tells a refusal that retrying cannot fix (an SMTP
// 5xx answer to the message) from a failure worth retrying.
//
// It delivers one mail when asked; queueing and retries are the mail job's.
// Like the rest of notify, it must never import net/http, a SQL driver or a
// product.
package smtprelay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/kinko-pay/kinko/internal/notify"
)

// Bounds of a Sender.
const (
	// Timeout bounds connecting (TCP and TLS) and then each SMTP command
	// and its answer; a mail job's context may end a send sooner.
	Timeout = 30 * time.Second
	// IdleConnsMax bounds the connections kept open between mails; more
	// mails at once than that open more connections, closed after use.
	IdleConnsMax = 4
	// IdleTimeout is how long an open connection may wait for the next
	// mail before it is closed, well under the five minutes RFC 5321 asks
	// servers to wait.
	IdleTimeout = 30 * time.Second
	// quitTimeout bounds the polite QUIT before a connection is closed.
	quitTimeout = 5 * time.Second
)

// TLS modes of the URL's tls parameter.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, which the relay must offer (default; port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no encryption (port 25): a relay on the same host or network only
)

// Auth mechanisms of the URL's auth parameter, used when it has a user.
const (
	AuthPlain = "plain" // default
	AuthLogin = "login"
)

// Config configures a Sender. ParseURL builds one from a URL; tests and
// programs may fill one in directly.
type Config struct {
	Host string
	Port int
	TLS  string // TLSStartTLS, TLSImplicit or TLSNone
	// Username and Password authenticate (SMTP AUTH, mechanism Auth) once
	// the connection is encrypted; they are refused with TLSNone.
	Username, Password string
	Auth               string // AuthPlain (when "") or AuthLogin
	// From is the From header: "noreply@example.com" or
	// "Kinko <noreply@example.com>". Its domain ends every Message-ID.
	From string
	// TLSConfig, when set, replaces the default: the system's roots,
	// verifying Host, TLS 1.2 or later.
	TLSConfig *tls.Config
	// Clock stamps the Date header (time.Now when nil).
	Clock func() time.Time
}

// ParseURL reads the relay's URL:
//
//	smtp://[user:password@]host[:port]?from=noreply@example.com[&tls=starttls|tls|none][&auth=plain|login]
//
// from is required (URL-encode a display name: from=Kinko%20%3Cnoreply%40example.com%3E).
// tls defaults to starttls; the port defaults to 587 for starttls, 465 for
// tls and 25 for none. A user and password need tls or starttls. Unknown
// parameters are an error, so that a typo cannot weaken the connection.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the URL, password and all.
		return Config{}, errors.New("smtprelay: the SMTP URL does not parse")
	}
	if u.Scheme != "smtp" {
		return Config{}, fmt.Errorf("smtprelay: the SMTP URL must start with smtp://, not %q", u.Scheme+"://")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return Config{}, errors.New("smtprelay: the SMTP URL has no path or fragment: smtp://host:port?from=…")
	}
	cfg := Config{Host: u.Hostname(), TLS: TLSStartTLS, Auth: AuthPlain}
	if cfg.Host == "" {
		return Config{}, errors.New("smtprelay: the SMTP URL needs a host")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Config{}, fmt.Errorf("smtprelay: the SMTP URL's query: %w", err)
	}
	for k, v := range q {
		if len(v) != 1 {
			return Config{}, fmt.Errorf("smtprelay: the SMTP URL's %q parameter must be given once", k)
		}
		switch k {
		case "from":
			cfg.From = v[0]
		case "tls":
			cfg.TLS = v[0]
		case "auth":
			cfg.Auth = v[0]
		default:
			return Config{}, fmt.Errorf("smtprelay: the SMTP URL has an unknown parameter %q (known: from, tls, auth)", k)
		}
	}
	if p := u.Port(); p != "" {
		if cfg.Port, err = strconv.Atoi(p); err != nil {
			return Config{}, fmt.Errorf("smtprelay: the SMTP URL's port %q is not a number", p)
		}
	} else {
		cfg.Port = map[string]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25}[cfg.TLS]
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	if err := cfg.check(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// check validates a Config.
func (c Config) check() error {
	switch {
	case c.Host == "":
		return errors.New("smtprelay: a relay host is required")
	case c.TLS != TLSStartTLS && c.TLS != TLSImplicit && c.TLS != TLSNone:
		return fmt.Errorf("smtprelay: tls must be %s, %s or %s, not %q", TLSStartTLS, TLSImplicit, TLSNone, c.TLS)
	case c.Port <= 0 || c.Port > 65535:
		return fmt.Errorf("smtprelay: port %d is not a TCP port", c.Port)
	case c.Auth != "" && c.Auth != AuthPlain && c.Auth != AuthLogin:
		return fmt.Errorf("smtprelay: auth must be %s or %s, not %q", AuthPlain, AuthLogin, c.Auth)
	case (c.Username == "") != (c.Password == ""):
		return errors.New("smtprelay: give both a user and a password, or neither")
	case c.Username != "" && c.TLS == TLSNone:
		return errors.New("smtprelay: a password is sent only over an encrypted connection: use tls=starttls or tls=tls")
	}
	if _, _, err := fromDomain(c.From); err != nil {
		return err
	}
	return nil
}

// String is the configuration as a URL, without the password: fit for logs.
func (c Config) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}
	if c.Username != "" {
		u.User = url.UserPassword(c.Username, "xxxxx")
	}
	q := url.Values{"from": {c.From}, "tls": {c.TLS}}
	if c.Username != "" && c.Auth != "" {
		q.Set("auth", c.Auth)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// fromDomain parses a From header and returns its address and the domain
// that ends Message-IDs.
func fromDomain(from string) (addr, domain string, err error) {
	a, err := netmail.ParseAddress(from)
	if err != nil {
		return "", "", fmt.Errorf("smtprelay: from %q is not an email address", from)
	}
	_, domain, _ = strings.Cut(a.Address, "@")
	if domain == "" || !isDotAtom(domain) {
		return "", "", fmt.Errorf("smtprelay: from %q has no plain domain for Message-IDs", from)
	}
	return a.Address, domain, nil
}

// Sender sends mail through one relay. It is safe for concurrent use; Close
// it to end the connections it keeps open.
type Sender struct {
	cfg    Config
	client *gomail.Client // the relay's settings; each connection is its own *gosmtp.Client
	domain string
	now    func() time.Time

	mu     sync.Mutex
	idle   []*conn // at most IdleConnsMax, most recently used last
	closed bool
}

var _ notify.Sender = (*Sender)(nil)

// conn is one open, greeted and authenticated SMTP session.
type conn struct {
	smtp      *gosmtp.Client
	raw       net.Conn // to end a send when its context ends
	idleSince time.Time
	broken    bool // the context ended mid-send: never reuse
}

// New returns a Sender for cfg. It does not connect: a relay that is down
// at start fails the first mails, which their jobs retry.
func New(cfg Config) (*Sender, error) {
	if cfg.Auth == "" {
		cfg.Auth = AuthPlain
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	_, domain, _ := fromDomain(cfg.From)
	tlsCfg := cfg.TLSConfig
	if tlsCfg == nil {
		tlsCfg = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	}
	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(Timeout),
		gomail.WithTLSConfig(tlsCfg),
		gomail.WithDialContextFunc(dialer(cfg.TLS == TLSImplicit, tlsCfg)),
	}
	switch cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default: // none, or TLS already done by dialer
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if cfg.Username != "" {
		mech := gomail.SMTPAuthPlain
		if cfg.Auth == AuthLogin {
			mech = gomail.SMTPAuthLogin
		}
		// Both mechanisms refuse to send the password over a connection
		// that is not TLS.
		opts = append(opts, gomail.WithSMTPAuth(mech), gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtprelay: %w", err)
	}
	now := cfg.Clock
	if now == nil {
		now = time.Now
	}
	return &Sender{cfg: cfg, client: client, domain: domain, now: now}, nil
}

// rawConnKey carries, in a dial's context, where the dialer leaves the
// connection it made.
type rawConnKey struct{}

// dialer connects to the relay, with TLS from the first byte when implicit,
// and leaves the connection in the context's slot so that a send can be cut
// short (go-mail holds its own lock while it waits for an answer).
func dialer(implicit bool, tlsCfg *tls.Config) gomail.DialContextFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		var err error
		if implicit {
			c, err = (&tls.Dialer{Config: tlsCfg}).DialContext(ctx, network, addr)
		} else {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		if slot, ok := ctx.Value(rawConnKey{}).(*net.Conn); ok {
			*slot = c
		}
		return c, nil
	}
}

// Send implements notify.Sender: it delivers m to the relay, on an open
// connection when one is idle. messageID becomes the Message-ID (its domain
// part, when it has none, is From's domain); "" gets a random one.
//
// An error wraps notify.ErrPermanent when the relay refused the message,
// its sender or its recipient with a 5xx answer, or when the message cannot
// be built: sending it again would fail again. Every other error (4xx
// answers, a relay that cannot be reached, a refused login or TLS handshake,
// ctx ending) is temporary. A failure while connecting is never permanent,
// even a 5xx one: it says the relay or this configuration is wrong, not the
// mail, and retries give the operator time to fix it.
func (s *Sender) Send(ctx context.Context, m notify.Mail, messageID string) error {
	msg, err := s.message(m, messageID)
	if err != nil {
		return fmt.Errorf("smtprelay: build the message: %w: %w", notify.ErrPermanent, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("smtprelay: send: %w", err)
	}
	c, reused := s.take()
	if c == nil {
		if c, err = s.dial(ctx); err != nil {
			return err
		}
	}
	err = s.sendOn(ctx, c, msg)
	if err != nil && reused && isStale(err) && ctx.Err() == nil {
		// The relay closed the idle connection: try once on a new one.
		c.close()
		if c, err = s.dial(ctx); err != nil {
			return err
		}
		err = s.sendOn(ctx, c, msg)
	}
	switch {
	case err == nil:
		s.put(c)
		return nil
	case msg.IsDelivered():
		// The relay accepted the message; only the RSET after it failed.
		c.close()
		return nil
	}
	c.close()
	return classify(err)
}

// message builds the MIME message: text alone, or text and HTML as
// multipart/alternative; UTF-8, in base64 when the text is mostly
// non-ASCII (Japanese) and quoted-printable otherwise.
func (s *Sender) message(m notify.Mail, messageID string) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent(), gomail.WithEncoding(encodingFor(m.Text)))
	if err := msg.From(s.cfg.From); err != nil {
		return nil, err
	}
	if err := msg.To(m.To); err != nil {
		return nil, err
	}
	msg.Subject(m.Subject)
	switch {
	case messageID == "":
		msg.SetMessageID()
	case !strings.Contains(messageID, "@"):
		messageID += "@" + s.domain
		fallthrough
	default:
		left, right, _ := strings.Cut(messageID, "@")
		if !isDotAtom(left) || !isDotAtom(right) {
			return nil, fmt.Errorf("message id %q is not left@right of letters, digits and dot-atom symbols", messageID)
		}
		msg.SetMessageIDWithValue(messageID)
	}
	msg.SetDateWithValue(s.now())
	// RFC 3834: a machine wrote this; auto-responders should not answer.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// encodingFor picks base64 when more than a quarter of text's bytes are
// non-ASCII (each would take three bytes in quoted-printable), else
// quoted-printable, which keeps ASCII, links included, readable.
func encodingFor(text string) gomail.Encoding {
	n := 0
	for i := 0; i < len(text); i++ {
		if text[i] >= 0x80 {
			n++
		}
	}
	if n*4 > len(text) {
		return gomail.EncodingB64
	}
	return gomail.EncodingQP
}

// isDotAtom reports whether s is an RFC 5322 dot-atom (as a Message-ID's
// halves and a plain domain are).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".!#$%&'*+-/=?^_`{|}~", c) >= 0) {
			return false
		}
	}
	return true
}

// dial opens, greets, encrypts and authenticates a new connection. Its
// errors are temporary.
func (s *Sender) dial(ctx context.Context) (*conn, error) {
	var raw net.Conn
	sc, err := s.client.DialToSMTPClientWithContext(context.WithValue(ctx, rawConnKey{}, &raw))
	if err != nil {
		if raw != nil {
			raw.Close() // go-mail leaves it open when the greeting, TLS or login fails
		}
		return nil, fmt.Errorf("smtprelay: connect to %s: %w", net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)), err)
	}
	if raw == nil { // cannot happen: every dial goes through dialer
		sc.Close()
		return nil, errors.New("smtprelay: connect: the dialer left no connection")
	}
	return &conn{smtp: sc, raw: raw}, nil
}

// sendOn sends msg on c. When ctx ends first, the connection's deadline is
// moved to the past, so the command waiting for an answer fails at once.
func (s *Sender) sendOn(ctx context.Context, c *conn, msg *gomail.Msg) error {
	stop := context.AfterFunc(ctx, func() { _ = c.raw.SetDeadline(time.Unix(1, 0)) })
	err := s.client.SendWithSMTPClient(c.smtp, msg)
	if !stop() {
		c.broken = true
		if err != nil {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
	}
	return err
}

// isStale reports whether err says the connection was gone before the
// message started (go-mail's NOOP check failed).
func isStale(err error) bool {
	var se *gomail.SendError
	return errors.As(err, &se) && se.Reason == gomail.ErrConnCheck
}

// classify wraps err as permanent when the relay answered the message's
// MAIL, RCPT or DATA with a 5xx code, or go-mail could not take the
// message's addresses.
func classify(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) {
		switch se.Reason {
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			return fmt.Errorf("smtprelay: %w: %w", notify.ErrPermanent, err)
		case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
			if code := se.ErrorCode(); code >= 500 && code <= 599 {
				return fmt.Errorf("smtprelay: the relay refused the mail (%d): %w: %w", code, notify.ErrPermanent, err)
			}
		}
	}
	return fmt.Errorf("smtprelay: send: %w", err)
}

// take returns an idle connection, if one has not waited past IdleTimeout.
func (s *Sender) take() (*conn, bool) {
	var stale []*conn
	defer func() {
		for _, c := range stale {
			c.close()
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for len(s.idle) > 0 {
		c := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if now.Sub(c.idleSince) <= IdleTimeout {
			return c, true
		}
		stale = append(stale, c)
	}
	return nil, false
}

// put keeps c open for the next mail, unless IdleConnsMax are already
// waiting or the Sender is closed.
func (s *Sender) put(c *conn) {
	if c.broken {
		c.close()
		return
	}
	c.idleSince = time.Now()
	s.mu.Lock()
	if !s.closed && len(s.idle) < IdleConnsMax {
		s.idle = append(s.idle, c)
		c = nil
	}
	s.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// close says QUIT (bounded by quitTimeout) and closes the connection.
func (c *conn) close() {
	if !c.broken {
		_ = c.raw.SetDeadline(time.Now().Add(quitTimeout))
		if c.smtp.Quit() == nil {
			return
		}
	}
	_ = c.raw.Close()
}

// Close closes the idle connections; mails sent afterwards connect anew and
// close their connection after use.
func (s *Sender) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
	return nil
}
