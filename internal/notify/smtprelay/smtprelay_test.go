package smtprelay

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/notify"
	"github.com/kinko-pay/kinko/internal/notify/smtprelay/smtptest"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
		want Config // compared when err is ""
		err  string
	}{
		{"OKDefaults", "smtp://mail.example.com?from=noreply@example.com",
			Config{Host: "mail.example.com", Port: 587, TLS: TLSStartTLS, Auth: AuthPlain, From: "noreply@example.com"}, ""},
		{"OKImplicitTLSWithLogin", "smtp://ses%2Buser:p%40ss%3Aword@email-smtp.example.com?tls=tls&auth=login&from=Kinko%20%3Cnoreply%40example.com%3E",
			Config{Host: "email-smtp.example.com", Port: 465, TLS: TLSImplicit, Auth: AuthLogin, Username: "ses+user", Password: "p@ss:word", From: "Kinko <noreply@example.com>"}, ""},
		{"OKNoneWithPort", "smtp://127.0.0.1:2525/?tls=none&from=noreply@example.com",
			Config{Host: "127.0.0.1", Port: 2525, TLS: TLSNone, Auth: AuthPlain, From: "noreply@example.com"}, ""},
		{"OKIPv6", "smtp://[::1]:25?tls=none&from=noreply@example.com",
			Config{Host: "::1", Port: 25, TLS: TLSNone, Auth: AuthPlain, From: "noreply@example.com"}, ""},
		{"ErrScheme", "smtps://mail.example.com?from=noreply@example.com", Config{}, "smtp://"},
		{"ErrNoHost", "smtp://:587?from=noreply@example.com", Config{}, "host"},
		{"ErrNoFrom", "smtp://mail.example.com", Config{}, "from"},
		{"ErrBadFrom", "smtp://mail.example.com?from=noreply", Config{}, "from"},
		{"ErrTLSMode", "smtp://mail.example.com?from=noreply@example.com&tls=ssl", Config{}, "tls must be"},
		{"ErrUnknownParameter", "smtp://mail.example.com?from=noreply@example.com&tsl=none", Config{}, `unknown parameter "tsl"`},
		{"ErrRepeatedParameter", "smtp://mail.example.com?from=noreply@example.com&tls=none&tls=tls", Config{}, "once"},
		{"ErrPasswordInClear", "smtp://u:p@mail.example.com?from=noreply@example.com&tls=none", Config{}, "encrypted"},
		{"ErrUserWithoutPassword", "smtp://u@mail.example.com?from=noreply@example.com", Config{}, "both"},
		{"ErrPort", "smtp://mail.example.com:70000?from=noreply@example.com", Config{}, "port"},
		{"ErrPath", "smtp://mail.example.com/relay?from=noreply@example.com", Config{}, "path"},
		{"ErrAuth", "smtp://u:p@mail.example.com?from=noreply@example.com&auth=cram-md5", Config{}, "auth must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseURL(tc.url)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseURL = %+v, %v; want an error containing %q", got, err, tc.err)
				}
				if strings.Contains(err.Error(), "p@ss") || strings.Contains(err.Error(), ":p@") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil || got.Host != tc.want.Host || got.Port != tc.want.Port || got.TLS != tc.want.TLS || got.Auth != tc.want.Auth ||
				got.Username != tc.want.Username || got.Password != tc.want.Password || got.From != tc.want.From {
				t.Fatalf("ParseURL = %+v, %v; want %+v", got, err, tc.want)
			}
			if tc.want.Password != "" && strings.Contains(got.String(), tc.want.Password) {
				t.Fatalf("String() shows the password: %s", got)
			}
			again, err := ParseURL(strings.Replace(got.String(), "xxxxx", urlEscape(tc.want.Password), 1))
			if err != nil || again.Host != got.Host || again.Port != got.Port || again.From != got.From || again.Username != got.Username {
				t.Fatalf("String() = %s does not parse back: %+v, %v", got, again, err)
			}
		})
	}
}

// urlEscape escapes a password for a URL's user info.
func urlEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "@", "%40", ":", "%3A", "/", "%2F")
	return r.Replace(s)
}

// relay starts a test SMTP server and a Sender to it.
func relay(t *testing.T, opts smtptest.Options, clock time.Time) (*smtptest.Server, *Sender) {
	t.Helper()
	srv := smtptest.Start(t, opts)
	cfg := Config{Host: srv.Host, Port: srv.Port, TLS: TLSNone, From: "Kinko 金庫 <noreply@kinko.example>",
		Clock: func() time.Time { return clock }}
	if opts.TLS {
		cfg.TLS = TLSStartTLS
		cfg.TLSConfig = &tls.Config{ServerName: srv.Host, RootCAs: srv.RootCAs, MinVersion: tls.VersionTLS12}
		cfg.Username, cfg.Password = opts.Username, opts.Password
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return srv, s
}

// parsed is a received message, decoded.
type parsed struct {
	header      netmail.Header
	subject     string
	text, html  string
	contentType string
}

// parse decodes a received message: RFC 2047 subject, multipart parts and
// their transfer encodings.
func parse(t *testing.T, m smtptest.Message) parsed {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("the message does not parse: %v\n%s", err, m.Data)
	}
	var p parsed
	p.header = msg.Header
	dec := &mime.WordDecoder{}
	if p.subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("Subject %q: %v", msg.Header.Get("Subject"), err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	p.contentType = mt
	if mt != "multipart/alternative" {
		// The line end that closes the message is the message's, not the text's.
		p.text = strings.TrimSuffix(decodePart(t, mt, params, msg.Header.Get("Content-Transfer-Encoding"), msg.Body), "\n")
		return p
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		pmt, pparams, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		body := decodePart(t, pmt, pparams, part.Header.Get("Content-Transfer-Encoding"), part)
		switch pmt {
		case "text/plain":
			p.text = body
		case "text/html":
			p.html = body
		default:
			t.Fatalf("unexpected part %s", pmt)
		}
	}
	return p
}

func decodePart(t *testing.T, mt string, params map[string]string, cte string, r io.Reader) string {
	t.Helper()
	if !strings.EqualFold(params["charset"], "utf-8") {
		t.Errorf("%s part has charset %q, want UTF-8", mt, params["charset"])
	}
	switch strings.ToLower(cte) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	default:
		t.Fatalf("%s part has transfer encoding %q", mt, cte)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s part: %v", mt, err)
	}
	// Transfer encodings carry CRLF line ends.
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// TestSendTextAndHTML: a Japanese mail with an HTML alternative arrives with
// its subject, bodies and headers intact, on one connection.
func TestSendTextAndHTML(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("JST", 9*3600))
	srv, s := relay(t, smtptest.Options{}, now)
	m := notify.Mail{
		To: "buyer@example.com",
		// Long enough that the encoded subject folds over several lines.
		Subject: "【金庫】お取引 dl_123 のお支払いを確認しました。商品を発送してください（発送期限: 3月7日）",
		Text:    "山田様\n\nお支払いを確認しました。\n詳細: https://kinko.example/deals/dl_123?x=1&y=2\n\n金庫",
		HTML:    `<p>山田様</p><p>お支払いを確認しました。<a href="https://kinko.example/deals/dl_123?x=1&amp;y=2">詳細</a></p>`,
		Ref:     "deal dl_123 funded",
	}
	if err := s.Send(context.Background(), m, "17.1772580000.deadbeef"); err != nil {
		t.Fatalf("Send = %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages received, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != "noreply@kinko.example" || len(got.To) != 1 || got.To[0] != m.To {
		t.Errorf("envelope from %q to %q, want noreply@kinko.example to [%s]", got.From, got.To, m.To)
	}
	for _, line := range strings.Split(string(got.Data), "\r\n") {
		if len(line) > 998 {
			t.Errorf("a line of %d bytes, over RFC 5322's 998", len(line))
		}
	}
	p := parse(t, got)
	if p.subject != m.Subject {
		t.Errorf("subject = %q, want %q", p.subject, m.Subject)
	}
	if p.contentType != "multipart/alternative" || p.text != m.Text || p.html != m.HTML {
		t.Errorf("content %s\ntext %q\nhtml %q\nwant multipart/alternative with %q and %q", p.contentType, p.text, p.html, m.Text, m.HTML)
	}
	if id := p.header.Get("Message-Id"); id != "<17.1772580000.deadbeef@kinko.example>" {
		t.Errorf("Message-ID = %q, want <17.1772580000.deadbeef@kinko.example>", id)
	}
	if d, err := p.header.Date(); err != nil || !d.Equal(now) {
		t.Errorf("Date = %q (%v), want %v", p.header.Get("Date"), err, now)
	}
	from, err := p.header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Kinko 金庫" || from[0].Address != "noreply@kinko.example" {
		t.Errorf("From = %q (%v), want Kinko 金庫 <noreply@kinko.example>", p.header.Get("From"), err)
	}
	if to := p.header.Get("To"); to != "<buyer@example.com>" && to != "buyer@example.com" {
		t.Errorf("To = %q", to)
	}
	if p.header.Get("Auto-Submitted") != "auto-generated" || p.header.Get("Mime-Version") != "1.0" {
		t.Errorf("Auto-Submitted %q, MIME-Version %q", p.header.Get("Auto-Submitted"), p.header.Get("Mime-Version"))
	}
}

// TestSendTextOnly: an English mail without HTML is one quoted-printable
// text/plain part, its link readable in the raw message.
func TestSendTextOnly(t *testing.T) {
	srv, s := relay(t, smtptest.Options{}, time.Now())
	m := notify.Mail{To: "staff@example.com", Subject: "Verify your address", Ref: "user u_1 verify",
		Text: "Open https://kinko.example/verify?token=abc to verify.\nLong line " + strings.Repeat("x", 200)}
	if err := s.Send(context.Background(), m, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	p := parse(t, msgs[0])
	if p.contentType != "text/plain" || p.text != m.Text || p.subject != m.Subject || p.html != "" {
		t.Fatalf("got %s %q %q, want text/plain %q", p.contentType, p.subject, p.text, m.Text)
	}
	if !bytes.Contains(msgs[0].Data, []byte("https://kinko.example/verify?token=3Dabc")) {
		t.Errorf("the link is not readable quoted-printable in the raw message:\n%s", msgs[0].Data)
	}
}

// TestSendReusesConnection: mails in a row share one connection; when the
// relay closes it while idle, the next mail opens another and goes out.
func TestSendReusesConnection(t *testing.T) {
	srv, s := relay(t, smtptest.Options{}, time.Now())
	m := notify.Mail{To: "a@example.com", Subject: "s", Text: "t", Ref: "r"}
	for i := range 3 {
		if err := s.Send(context.Background(), m, "reuse."+string(rune('a'+i))); err != nil {
			t.Fatalf("Send %d = %v", i, err)
		}
	}
	if n, c := len(srv.Messages()), srv.Sessions(); n != 3 || c != 1 {
		t.Fatalf("%d messages on %d connections, want 3 on 1", n, c)
	}
	srv.DropConnections()
	if err := s.Send(context.Background(), m, "reuse.d"); err != nil {
		t.Fatalf("Send after the relay dropped the idle connection = %v", err)
	}
	if n, c := len(srv.Messages()), srv.Sessions(); n != 4 || c != 2 {
		t.Fatalf("%d messages on %d connections, want 4 on 2", n, c)
	}
}

// TestSendErrors: 4xx answers and an unreachable relay are temporary; 5xx
// answers to the recipient or the data are permanent.
func TestSendErrors(t *testing.T) {
	m := notify.Mail{To: "a@example.com", Subject: "s", Text: "t", Ref: "r"}
	for _, tc := range []struct {
		name      string
		stage     smtptest.Stage
		code      int
		permanent bool
	}{
		{"TemporaryRcpt451", smtptest.StageRcpt, 451, false},
		{"TemporaryData452", smtptest.StageData, 452, false},
		{"PermanentRcpt550", smtptest.StageRcpt, 550, true},
		{"PermanentData554", smtptest.StageData, 554, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, s := relay(t, smtptest.Options{}, time.Now())
			srv.SetAnswer(func(stage smtptest.Stage, _ int) error {
				if stage == tc.stage {
					return smtptest.Reply(tc.code, "as the test says")
				}
				return nil
			})
			err := s.Send(context.Background(), m, "e.1")
			if err == nil || errors.Is(err, notify.ErrPermanent) != tc.permanent {
				t.Fatalf("Send = %v; want an error, permanent: %v", err, tc.permanent)
			}
			if len(srv.Messages()) != 0 {
				t.Fatal("the refused message was kept")
			}
			// The relay changes its mind: the same Sender delivers.
			srv.SetAnswer(nil)
			if err := s.Send(context.Background(), m, "e.2"); err != nil || len(srv.Messages()) != 1 {
				t.Fatalf("Send after the relay accepts again = %v, %d messages", err, len(srv.Messages()))
			}
		})
	}
	t.Run("TemporaryUnreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close() // nothing listens there now
		s, err := New(Config{Host: "127.0.0.1", Port: port, TLS: TLSNone, From: "noreply@kinko.example"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), m, "e.3"); err == nil || errors.Is(err, notify.ErrPermanent) {
			t.Fatalf("Send to a closed port = %v, want a temporary error", err)
		}
	})
	t.Run("PermanentBadMessageID", func(t *testing.T) {
		_, s := relay(t, smtptest.Options{}, time.Now())
		if err := s.Send(context.Background(), m, "a b"); !errors.Is(err, notify.ErrPermanent) {
			t.Fatalf("Send with a bad Message-ID = %v, want a permanent error", err)
		}
	})
}

// TestSendStartTLSAndLogin: the password goes only over STARTTLS, and a
// refused login is temporary (the configuration, not the mail, is wrong).
func TestSendStartTLSAndLogin(t *testing.T) {
	opts := smtptest.Options{TLS: true, Username: "kinko", Password: "s3cret"}
	srv, s := relay(t, opts, time.Now())
	m := notify.Mail{To: "a@example.com", Subject: "TLS", Text: "t", Ref: "r"}
	if err := s.Send(context.Background(), m, "tls.1"); err != nil {
		t.Fatalf("Send over STARTTLS with a login = %v", err)
	}
	if len(srv.Messages()) != 1 {
		t.Fatalf("%d messages, want 1", len(srv.Messages()))
	}

	wrong, err := New(Config{Host: srv.Host, Port: srv.Port, TLS: TLSStartTLS, Username: "kinko", Password: "wrong",
		From: "noreply@kinko.example", TLSConfig: &tls.Config{ServerName: srv.Host, RootCAs: srv.RootCAs}})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if err := wrong.Send(context.Background(), m, "tls.2"); err == nil || errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("Send with a wrong password = %v, want a temporary error", err)
	}

	untrusted, err := New(Config{Host: srv.Host, Port: srv.Port, TLS: TLSStartTLS, From: "noreply@kinko.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer untrusted.Close()
	if err := untrusted.Send(context.Background(), m, "tls.3"); err == nil || errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("Send to a relay whose certificate is not trusted = %v, want a temporary error", err)
	}
	if len(srv.Messages()) != 1 {
		t.Fatalf("%d messages after the refused ones, want 1", len(srv.Messages()))
	}
}

// TestSendContextEnds: a send stuck waiting for the relay's answer returns
// as soon as its context ends, with a temporary error.
func TestSendContextEnds(t *testing.T) {
	srv, s := relay(t, smtptest.Options{}, time.Now())
	inData, release := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the server stops
	srv.SetAnswer(func(stage smtptest.Stage, _ int) error {
		if stage == smtptest.StageData {
			close(inData)
			<-release
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Send(ctx, notify.Mail{To: "a@example.com", Subject: "s", Text: "t", Ref: "r"}, "ctx.1")
	}()
	<-inData
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("Send = %v, want a temporary error wrapping context.Canceled", err)
	}
}

// TestSendConcurrent: many sends at once each get a connection of their
// own, and at most IdleConnsMax stay open afterwards for the next mails.
func TestSendConcurrent(t *testing.T) {
	srv, s := relay(t, smtptest.Options{}, time.Now())
	const n = 3 * IdleConnsMax
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- s.Send(context.Background(), notify.Mail{To: "a@example.com", Subject: "s", Text: "t", Ref: "r"}, fmt.Sprint("c.", i))
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("Send = %v", err)
		}
	}
	if got := len(srv.Messages()); got != n {
		t.Fatalf("%d messages, want %d", got, n)
	}
	s.mu.Lock()
	idle := len(s.idle)
	s.mu.Unlock()
	if idle < 1 || idle > IdleConnsMax {
		t.Fatalf("%d idle connections kept, want 1 to %d", idle, IdleConnsMax)
	}
	before := srv.Sessions()
	for i := range idle {
		if err := s.Send(context.Background(), notify.Mail{To: "a@example.com", Subject: "s", Text: "t", Ref: "r"}, fmt.Sprint("d.", i)); err != nil {
			t.Fatal(err)
		}
	}
	if srv.Sessions() != before {
		t.Fatalf("%d new connections for mails sent on idle ones, want 0", srv.Sessions()-before)
	}
}
