package client_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/client"
	"github.com/kinko-pay/kinko/internal/api"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/webhook"
)

func TestEventsAndWebhooksThroughTheClient(t *testing.T) {
	ctx := context.Background()
	url, adminKey, key := server(t, nil)
	admin, c := client.New(url, adminKey, nil), client.New(url, key, nil)
	if _, err := admin.CreateAsset(ctx, client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	ep, err := c.CreateWebhookEndpoint(ctx, client.WebhookEndpointParams{URL: "https://shop.example.com/hooks",
		EventTypes: []string{client.EventTransferCreated}, Description: "fulfilment"})
	if err != nil || !strings.HasPrefix(ep.Secret, "whsec_") || ep.Disabled || ep.Description != "fulfilment" {
		t.Fatalf("CreateWebhookEndpoint = %+v, %v", ep, err)
	}
	got, err := c.GetWebhookEndpoint(ctx, ep.ID)
	if err != nil || got.Secret != "" || got.URL != ep.URL || !slices.Equal(got.EventTypes, ep.EventTypes) {
		t.Fatalf("GetWebhookEndpoint = %+v, %v", got, err)
	}
	off := true
	upd, err := c.UpdateWebhookEndpoint(ctx, ep.ID, client.WebhookEndpointUpdate{Disabled: &off})
	if err != nil || !upd.Disabled || upd.URL != ep.URL || upd.Description != "fulfilment" {
		t.Fatalf("UpdateWebhookEndpoint = %+v, %v", upd, err)
	}
	off = false
	if _, err := c.UpdateWebhookEndpoint(ctx, ep.ID, client.WebhookEndpointUpdate{Disabled: &off, EventTypes: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateWebhookEndpoint(ctx, client.WebhookEndpointParams{URL: "ftp://x", EventTypes: []string{"*"}}); client.CodeOf(err) != "invalid" {
		t.Fatalf("ftp endpoint: %v", err)
	}
	scratch, err := c.CreateWebhookEndpoint(ctx, client.WebhookEndpointParams{URL: "https://shop.example.com/scratch", EventTypes: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteWebhookEndpoint(ctx, scratch.ID); err != nil {
		t.Fatalf("DeleteWebhookEndpoint: %v", err)
	}
	if _, err := c.GetWebhookEndpoint(ctx, scratch.ID); client.CodeOf(err) != "not_found" {
		t.Fatalf("GetWebhookEndpoint of a deleted endpoint: %v", err)
	}
	if err := c.DeleteWebhookEndpoint(ctx, scratch.ID); client.CodeOf(err) != "not_found" {
		t.Fatalf("a second DeleteWebhookEndpoint: %v", err)
	}
	eps, err := c.ListWebhookEndpoints(ctx, client.ListParams{})
	if err != nil || len(eps.Data) != 1 || eps.Data[0].ID != ep.ID || eps.Data[0].Secret != "" {
		t.Fatalf("ListWebhookEndpoints = %+v, %v", eps, err)
	}

	a, _, _ := c.CreateAccount(ctx, client.AccountParams{Reference: "a", Currency: "JPY"})
	b, _, _ := c.CreateAccount(ctx, client.AccountParams{Reference: "b", Currency: "JPY"})
	tr, _, err := c.CreateTransfer(ctx, client.TransferParams{Reference: "pay", DebitAccount: a.ID, CreditAccount: b.ID, Amount: client.Money{Amount: 7, Currency: "JPY"}})
	if err != nil {
		t.Fatal(err)
	}
	// Events are listed once the dispatcher has claimed them.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		all, err := c.ListEvents(ctx, client.EventQuery{ListParams: client.ListParams{Limit: 100}})
		if err == nil && len(all.Data) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("3 events not listed within 30s: %+v, %v", all, err)
		}
	}
	evs, err := c.ListEvents(ctx, client.EventQuery{ListParams: client.ListParams{Limit: 2}})
	if err != nil || len(evs.Data) != 2 || !evs.HasMore || evs.Data[0].Type != client.EventAccountCreated {
		t.Fatalf("ListEvents = %+v, %v", evs, err)
	}
	if acct, err := evs.Data[0].Account(); err != nil || acct.ID != a.ID {
		t.Fatalf("account of %+v = %+v, %v", evs.Data[0], acct, err)
	}
	if _, err := evs.Data[0].Transfer(); err == nil {
		t.Fatal("an account.created event decoded as a transfer")
	}
	transfers, err := c.ListEvents(ctx, client.EventQuery{Type: client.EventTransferCreated})
	if err != nil || len(transfers.Data) != 1 {
		t.Fatalf("ListEvents(transfer.created) = %+v, %v", transfers, err)
	}
	ev, err := c.GetEvent(ctx, transfers.Data[0].ID)
	if err != nil || ev.Type != client.EventTransferCreated || ev.CreatedAt.IsZero() {
		t.Fatalf("GetEvent = %+v, %v", ev, err)
	}
	if got, err := ev.Transfer(); err != nil || got.ID != tr.ID || got.Amount != tr.Amount || !got.CreatedAt.Equal(tr.CreatedAt) {
		t.Fatalf("transfer of %+v = %+v, %v; want %+v", ev, got, err, tr)
	}

	replay, err := c.ReplayEvent(ctx, ev.ID, "")
	if err != nil || replay.Event != ev.ID || !slices.Equal(replay.WebhookEndpoints, []string{ep.ID}) {
		t.Fatalf("ReplayEvent = %+v, %v", replay, err)
	}
	if _, err := c.ReplayEvent(ctx, ev.ID, ep.ID); err != nil {
		t.Fatal(err)
	}
	ds, err := c.ListEventDeliveries(ctx, ev.ID)
	if err != nil || len(ds) != 1 || ds[0].WebhookEndpoint != ep.ID || ds[0].State != "pending" || ds[0].LastStatus != 0 {
		t.Fatalf("ListEventDeliveries = %+v, %v", ds, err)
	}
	attempts, err := c.ListWebhookAttempts(ctx, ep.ID, client.WebhookAttemptQuery{Event: ev.ID})
	if err != nil || len(attempts.Data) != 0 || attempts.HasMore {
		t.Fatalf("ListWebhookAttempts = %+v, %v", attempts, err)
	}
	if _, err := c.GetEvent(ctx, "evt_999999"); client.CodeOf(err) != "not_found" {
		t.Fatalf("GetEvent(missing) = %v", err)
	}
}

func TestEventTypesAreTheServers(t *testing.T) {
	got := []string{client.EventAccountCreated, client.EventTransferCreated, client.EventTransferPosted, client.EventTransferVoided, client.EventTransferExpired,
		client.EventDealCreated, client.EventDealAccepted, client.EventDealCanceled, client.EventDealPaymentReceived, client.EventDealFunded,
		client.EventDealShipped, client.EventDealReceived, client.EventDealMilestoneReleased, client.EventDealReleased, client.EventDealDisputed,
		client.EventDealResolved, client.EventDealRefunded,
		client.EventBillingCustomerCreated, client.EventBillingCustomerLimitChanged, client.EventBillingTopUpCreated,
		client.EventBillingReservationCreated, client.EventBillingReservationIncremented, client.EventBillingReservationCharged,
		client.EventBillingReservationCanceled, client.EventBillingReservationExpired, client.EventBillingChargeCreated,
		client.EventBillingInvoiceCreated, client.EventBillingSessionStarted, client.EventBillingSessionToppedUp,
		client.EventBillingSessionEnded, client.EventBillingSessionExpired}
	if !slices.Equal(got, event.Types) {
		t.Fatalf("client event types %v, server's %v", got, event.Types)
	}
	if client.SignatureHeader != webhook.SignatureHeader || client.EventIDHeader != webhook.EventIDHeader || client.SignatureTolerance != webhook.SignatureToleranceDefault {
		t.Fatal("the client's webhook headers or tolerance differ from the server's")
	}
}

// TestVerifySignature signs as the server does (webhook.Sign over the body
// api.RenderEvent makes) and verifies as a receiver does.
func TestVerifySignature(t *testing.T) {
	secret := webhook.NewSecret()
	now := time.Unix(1767322800, 0)
	body := api.RenderEvent(event.Event{ID: 1027, Type: event.TypeTransferCreated, Data: []byte(`{"object":"transfer","id":"tr_1"}`), CreatedAt: now})
	header := webhook.Sign(secret, now, body)
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] = '2'
	for _, tc := range []struct {
		name   string
		header string
		body   []byte
		secret string
		now    time.Time
		want   error
	}{
		{"OK", header, body, secret, now, nil},
		{"OKLateWithinTolerance", header, body, secret, now.Add(client.SignatureTolerance), nil},
		{"OKSecondSignatureMatches", "t=" + header[2:strings.Index(header, ",")] + ",v1=" + strings.Repeat("ab", 32) + "," + header[strings.Index(header, ",")+1:], body, secret, now, nil},
		{"OKSpacesAndUnknownKeys", strings.ReplaceAll(header, ",", ", v0=zz, "), body, secret, now, nil},
		{"ErrTamperedBody", header, tampered, secret, now, client.ErrSignatureMismatch},
		{"ErrWrongSecret", header, body, webhook.NewSecret(), now, client.ErrSignatureMismatch},
		{"ErrOldTimestamp", header, body, secret, now.Add(client.SignatureTolerance + time.Second), client.ErrSignatureTooOld},
		{"ErrFutureTimestamp", header, body, secret, now.Add(-client.SignatureTolerance - time.Second), client.ErrSignatureTooOld},
		{"ErrNoSignature", header[:strings.Index(header, ",")], body, secret, now, client.ErrSignatureMalformed},
		{"ErrNoTimestamp", header[strings.Index(header, ",")+1:], body, secret, now, client.ErrSignatureMalformed},
		{"ErrNotHex", header + "x", body, secret, now, client.ErrSignatureMalformed},
		{"ErrEmpty", "", body, secret, now, client.ErrSignatureMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := client.VerifySignature(tc.header, tc.body, tc.secret, tc.now, client.SignatureTolerance)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("VerifySignature(%q) = %v, want %v", tc.header, err, tc.want)
			}
			if class(err) != class(webhook.Verify(tc.header, tc.body, tc.secret, tc.now, webhook.SignatureToleranceDefault)) {
				t.Fatalf("the client says %v, the server's Verify %v", err, webhook.Verify(tc.header, tc.body, tc.secret, tc.now, webhook.SignatureToleranceDefault))
			}
		})
	}
}

// class names a verification outcome the same for the client's errors and the server's.
func class(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, client.ErrSignatureMalformed), errors.Is(err, webhook.ErrSignatureMalformed):
		return "malformed"
	case errors.Is(err, client.ErrSignatureTooOld), errors.Is(err, webhook.ErrSignatureTooOld):
		return "too_old"
	case errors.Is(err, client.ErrSignatureMismatch), errors.Is(err, webhook.ErrSignatureMismatch):
		return "mismatch"
	}
	return err.Error()
}

// FuzzVerifySignature: for any header, body, secret and clock, the client's
// check agrees with the server's own webhook.Verify.
func FuzzVerifySignature(f *testing.F) {
	now := time.Unix(1767322800, 0)
	f.Add(webhook.Sign("whsec_a", now, []byte(`{}`)), []byte(`{}`), "whsec_a", int64(0))
	f.Add(webhook.Sign("whsec_a", now, []byte(`{}`)), []byte(`{}`), "whsec_b", int64(301))
	f.Add("t=1767322800,v1=00,v1=zz", []byte(`{"a":1}`), "s", int64(-5))
	f.Add("t=,v1=", []byte(nil), "", int64(0))
	f.Add("v1=ab,t=9223372036854775807", []byte("x"), "s", int64(1<<40))
	f.Fuzz(func(t *testing.T, header string, body []byte, secret string, skewSeconds int64) {
		at := now.Add(time.Duration(skewSeconds) * time.Second)
		got := client.VerifySignature(header, body, secret, at, client.SignatureTolerance)
		want := webhook.Verify(header, body, secret, at, webhook.SignatureToleranceDefault)
		if class(got) != class(want) {
			t.Fatalf("VerifySignature(%q, %q, %q, %v) = %v; webhook.Verify = %v", header, body, secret, at, got, want)
		}
	})
}
