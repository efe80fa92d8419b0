package escrow

import (
	"strings"
	"testing"
	"time"
)

func TestFee(t *testing.T) {
	for _, c := range []struct{ price, want int64 }{
		{1, 1}, {299, 299}, {300, 300}, {10000, 300}, {10001, 300}, {50000, 1500}, {123456, 3703},
		{AmountMax, AmountMax / 100 * 3},
	} {
		if got := FeeScheduleDefault.Fee(c.price); got != c.want {
			t.Errorf("Fee(%d) = %d, want %d", c.price, got, c.want)
		}
	}
}

func TestPlan(t *testing.T) {
	base := DealParams{Title: "t", Price: 100000, ShippingFee: 800, SellerEmail: "s@x.jp", BuyerEmail: "b@x.jp", Currency: "JPY"}
	for _, c := range []struct {
		name     string
		payer    FeePayer
		ms       []MilestoneParams
		buyerFee int64
	}{
		{"Seller", FeeSeller, nil, 0},
		{"Buyer", FeeBuyer, nil, 3000},
		{"Split", FeeSplit, nil, 1500},
		{"SplitMilestones", FeeSplit, []MilestoneParams{{"a", 33333}, {"b", 33333}, {"c", 33334}}, 1500},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := base
			p.FeePayer, p.Milestones = c.payer, c.ms
			if err := p.validate(); err != nil {
				t.Fatal(err)
			}
			fee, buyerFee, due, ms, err := plan(p, FeeScheduleDefault)
			if err != nil {
				t.Fatal(err)
			}
			if fee != 3000 || buyerFee != c.buyerFee || due != p.Price+p.ShippingFee+c.buyerFee {
				t.Fatalf("fee %d buyer fee %d due %d", fee, buyerFee, due)
			}
			var gross, fees int64
			for _, m := range ms {
				if m.Gross-m.Fee < 0 {
					t.Errorf("milestone %q leaves the seller %d", m.Title, m.Gross-m.Fee)
				}
				gross += m.Gross
				fees += m.Fee
			}
			if gross != due || fees != fee {
				t.Errorf("milestones take %d with fees %d; want %d and %d", gross, fees, due, fee)
			}
		})
	}
	t.Run("LargeMilestones", func(t *testing.T) {
		// A fee and a milestone of ~10^10 each multiply past int64.
		p := base
		p.FeePayer, p.Price, p.ShippingFee = FeeSplit, 30_000_000_000, 0
		p.Milestones = []MilestoneParams{{"a", 20_000_000_001}, {"b", 9_999_999_999}}
		if err := p.validate(); err != nil {
			t.Fatal(err)
		}
		fee, buyerFee, due, ms, err := plan(p, FeeScheduleDefault)
		if err != nil {
			t.Fatal(err)
		}
		if fee != 900_000_000 || buyerFee != 450_000_000 || due != p.Price+buyerFee {
			t.Fatalf("fee %d buyer fee %d due %d", fee, buyerFee, due)
		}
		// Each milestone's share of the fee is its share of the price.
		const want = 600_000_000 // 9×10^8 × (2×10^10 + 1) / (3×10^10), rounded down
		if ms[0].Fee != want || ms[1].Fee != fee-want {
			t.Fatalf("milestone fees %d and %d, want %d and %d", ms[0].Fee, ms[1].Fee, want, fee-want)
		}
		if ms[0].Gross+ms[1].Gross != due {
			t.Fatalf("milestones take %d, want %d", ms[0].Gross+ms[1].Gross, due)
		}
	})
	t.Run("ErrMilestonesDoNotAddUp", func(t *testing.T) {
		p := base
		p.FeePayer = FeeSeller
		p.Milestones = []MilestoneParams{{"a", 1}, {"b", 2}}
		if err := p.validate(); err == nil {
			t.Fatal("accepted milestones that do not add up to the price")
		}
	})
}

func TestPaymentRefs(t *testing.T) {
	for range 1000 {
		ref := newPaymentRef()
		if !ValidPaymentRef(ref) || ref[0] == '0' {
			t.Fatalf("newPaymentRef gave %q", ref)
		}
		// Every single-digit mistake is caught.
		for i := range ref {
			b := []byte(ref)
			b[i] = '0' + (b[i]-'0'+1)%10
			if ValidPaymentRef(string(b)) {
				t.Fatalf("%q passes with digit %d changed (%q)", ref, i, b)
			}
		}
	}
	ref := newPaymentRef()
	wide := strings.Map(func(r rune) rune { return r - '0' + '０' }, ref)
	for _, text := range []string{ref + " ﾔﾏﾀﾞ ﾀﾛｳ", "ﾔﾏﾀﾞ" + ref, wide + "　山田", "x " + ref + " " + ref} {
		if got := FindPaymentRefs(text); len(got) != 1 || got[0] != ref {
			t.Errorf("FindPaymentRefs(%q) = %q, want [%s]", text, got, ref)
		}
	}
	for _, text := range []string{"", "12345", ref + "1", "0" + ref} {
		if got := FindPaymentRefs(text); len(got) != 0 {
			t.Errorf("FindPaymentRefs(%q) = %q, want none", text, got)
		}
	}
}

func TestMailCatalog(t *testing.T) {
	s := NewService(Config{PortalURL: "https://escrow.example", PayTo: "bank"})
	due := time.Date(2026, 12, 9, 0, 0, 0, 0, time.UTC)
	d := Deal{ID: "dl_1", Title: "Camera", Currency: "JPY", AmountDue: 51000, PaymentRef: "1234567897", DueAt: &due,
		Seller: PartyRef{Email: "s@example.com", Locale: "en"}, Buyer: PartyRef{Email: "b@example.com", Locale: "ja"}}
	for key, langs := range mails {
		if len(langs) != 2 || langs["ja"] == (mailText{}) || langs["en"] == (mailText{}) {
			t.Errorf("mail %q lacks a language", key)
		}
		for _, p := range []Party{Buyer, Seller} {
			m := s.mail(d, p, key)
			if err := m.Validate(); err != nil {
				t.Errorf("mail %q to %s: %v", key, p, err)
			}
			if !strings.Contains(m.Text, "https://escrow.example/deals/dl_1") {
				t.Errorf("mail %q to %s has no link to the deal", key, p)
			}
		}
	}
	if m := s.mail(d, Buyer, "pay"); !strings.Contains(m.Text, "1234567897") || !strings.Contains(m.Text, "51000 JPY") || !strings.Contains(m.Subject, "お支払い") {
		t.Errorf("payment instructions in Japanese: %q / %q", m.Subject, m.Text)
	}
}

// TestPartiesByExactAddress: a deal's parties are its addresses in lower
// case, exactly; Unicode case folding would let a look-alike account
// ("ſam", with U+017F) act as the buyer "sam".
func TestPartiesByExactAddress(t *testing.T) {
	d := Deal{Buyer: PartyRef{Email: "sam@example.com"}, Seller: PartyRef{Email: "carol@example.com"}}
	for _, tc := range []struct {
		email         string
		buyer, seller bool
	}{
		{"sam@example.com", true, false},
		{"Sam@Example.com", true, false},
		{"ſam@example.com", false, false},
		{"carol@example.com", false, true},
		{"", false, false},
	} {
		b, s := d.PartyOf(Actor{Kind: ActorUser, Email: tc.email})
		if b != tc.buyer || s != tc.seller {
			t.Errorf("PartyOf(%q) = buyer %v, seller %v; want %v, %v", tc.email, b, s, tc.buyer, tc.seller)
		}
	}
}
