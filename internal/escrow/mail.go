package escrow

import (
	"bytes"
	"strings"
	"text/template"

	"github.com/kinko-pay/kinko/internal/money"
	"github.com/kinko-pay/kinko/internal/notify"
)

// mailText is one message in one language: a subject and a body, as
// text/template over mailData.
type mailText struct{ subject, body string }

// mails are what each party is told at each step, by key and language.
// Every key has both languages (TestMailCatalog).
var mails = map[string]map[string]mailText{
	"invited": {
		"ja": {"【Kinko エスクロー】取引「{{.Title}}」への招待", "{{.Seller}} さんから、エスクロー取引の申し込みが届きました。\n\n商品: {{.Title}}\nお支払い額: {{.Due}}\n\n内容を確認し、承諾または辞退してください。\n{{.Link}}"},
		"en": {"[Kinko Escrow] You are invited to the deal \"{{.Title}}\"", "{{.Seller}} has proposed an escrow deal to you.\n\nItem: {{.Title}}\nYou pay: {{.Due}}\n\nPlease review it, then accept or decline.\n{{.Link}}"},
	},
	"accepted": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」が承諾されました", "購入者が取引を承諾しました。入金が確認できしだい、発送をお願いするメールをお送りします。\n{{.Link}}"},
		"en": {"[Kinko Escrow] \"{{.Title}}\" was accepted", "The buyer accepted the deal. We will write to you to ship as soon as their payment arrives.\n{{.Link}}"},
	},
	"pay": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」のお支払い方法", "次の口座へ {{.DueBy}} までにお振り込みください。\n\n振込先: {{.PayTo}}\n金額: {{.Due}}\n振込依頼人名の前に、お支払い番号 {{.Ref}} を必ず入力してください。\n\n期限までに入金がない場合、取引は自動的に取り消されます。\n{{.Link}}"},
		"en": {"[Kinko Escrow] How to pay for \"{{.Title}}\"", "Please transfer the amount below by {{.DueBy}}.\n\nPay to: {{.PayTo}}\nAmount: {{.Due}}\nPut your payment number {{.Ref}} before your name as the remitter.\n\nIf the payment has not arrived by then, the deal is canceled.\n{{.Link}}"},
	},
	"partial": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」の入金が不足しています", "{{.Paid}} の入金を確認しましたが、お支払い額 {{.Due}} に足りません。残額を {{.DueBy}} までにお振り込みください（お支払い番号 {{.Ref}}）。\n{{.Link}}"},
		"en": {"[Kinko Escrow] Part of your payment for \"{{.Title}}\" arrived", "We received {{.Paid}} of the {{.Due}} due. Please transfer the rest by {{.DueBy}} (payment number {{.Ref}}).\n{{.Link}}"},
	},
	"paid": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」の入金を確認しました", "お支払いを確認し、お預かりしました。出品者に発送を依頼しました。\n{{.Link}}"},
		"en": {"[Kinko Escrow] Payment for \"{{.Title}}\" received", "We hold your payment safely and have asked the seller to ship.\n{{.Link}}"},
	},
	"funded": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」を発送してください", "購入者の入金を確認し、お預かりしました。{{.DueBy}} までに商品を発送し、配送業者と追跡番号を登録してください。期限を過ぎると購入者へ返金されます。\n{{.Link}}"},
		"en": {"[Kinko Escrow] Please ship \"{{.Title}}\"", "The buyer's payment is in escrow. Ship the item by {{.DueBy}} and enter the carrier and tracking number. After that date the buyer is refunded.\n{{.Link}}"},
	},
	"shipped": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」が発送されました", "出品者が商品を発送しました（{{.Carrier}} {{.Tracking}}）。届いたら受け取りを確認してください。\n{{.Link}}"},
		"en": {"[Kinko Escrow] \"{{.Title}}\" has shipped", "The seller shipped the item ({{.Carrier}} {{.Tracking}}). Please confirm when it arrives.\n{{.Link}}"},
	},
	"inspect": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」の検品期間が始まりました", "{{.DueBy}} までに商品を確認し、問題がなければ取引を完了してください。問題があれば期限内に申し立てができます。期限を過ぎると代金は出品者に支払われます。\n{{.Link}}"},
		"en": {"[Kinko Escrow] Inspect \"{{.Title}}\"", "Please inspect the item by {{.DueBy}} and approve it, or open a dispute before then. After that date the seller is paid.\n{{.Link}}"},
	},
	"received": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」が受け取られました", "購入者が商品を受け取りました。検品期間は {{.DueBy}} までです。\n{{.Link}}"},
		"en": {"[Kinko Escrow] \"{{.Title}}\" was received", "The buyer received the item. Their inspection period ends {{.DueBy}}.\n{{.Link}}"},
	},
	"milestone": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」の一部が支払われました", "購入者がマイルストーンを承認し、代金の一部をお支払い残高に移しました。\n{{.Link}}"},
		"en": {"[Kinko Escrow] A milestone of \"{{.Title}}\" was released", "The buyer approved a milestone; its amount is now in your payable balance.\n{{.Link}}"},
	},
	"released": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」の取引が完了しました", "取引が完了し、代金は出品者のお支払い残高に移りました。\n{{.Link}}"},
		"en": {"[Kinko Escrow] \"{{.Title}}\" is complete", "The deal is complete; the money is in the seller's payable balance.\n{{.Link}}"},
	},
	"declined": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」が辞退されました", "購入者が取引を辞退しました。\n{{.Link}}"},
		"en": {"[Kinko Escrow] \"{{.Title}}\" was declined", "The buyer declined the deal.\n{{.Link}}"},
	},
	"canceled": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」は取り消されました", "取引は取り消されました。入金済みの金額は購入者のお支払い残高に返金されます。\n{{.Link}}"},
		"en": {"[Kinko Escrow] \"{{.Title}}\" was canceled", "The deal was canceled. Anything already paid goes back to the buyer's balance.\n{{.Link}}"},
	},
	"unpaid": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」は入金期限を過ぎたため取り消されました", "期限までに入金が確認できなかったため、取引を取り消しました。一部入金があった場合は購入者に返金されます。\n{{.Link}}"},
		"en": {"[Kinko Escrow] \"{{.Title}}\" was canceled: not paid in time", "The payment did not arrive by the deadline, so the deal was canceled. Any part payment goes back to the buyer.\n{{.Link}}"},
	},
	"not_shipped": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」は発送期限を過ぎたため返金されました", "発送期限までに発送の登録がなかったため、代金を購入者に返金しました。\n{{.Link}}"},
		"en": {"[Kinko Escrow] \"{{.Title}}\" was refunded: not shipped in time", "The item was not marked shipped by the deadline, so the buyer was refunded.\n{{.Link}}"},
	},
	"disputed": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」に申し立てがありました", "購入者が取引について申し立てを行いました。サポート担当が確認します。取引ページのスレッドで返答してください。\n{{.Link}}"},
		"en": {"[Kinko Escrow] The buyer disputed \"{{.Title}}\"", "The buyer opened a dispute. Our support staff will review it; please answer in the deal's thread.\n{{.Link}}"},
	},
	"dispute_opened": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」の申し立てを受け付けました", "申し立てを受け付けました。代金はお預かりしたままです。取引ページのスレッドで経過をご確認ください。\n{{.Link}}"},
		"en": {"[Kinko Escrow] Your dispute on \"{{.Title}}\" is open", "We hold the money while support staff review your dispute. Follow it in the deal's thread.\n{{.Link}}"},
	},
	"resolved": {
		"ja": {"【Kinko エスクロー】「{{.Title}}」の申し立てが解決しました", "サポート担当が申し立てを解決しました。結果は取引ページでご確認ください。\n{{.Link}}"},
		"en": {"[Kinko Escrow] The dispute on \"{{.Title}}\" is resolved", "Support staff resolved the dispute. See the outcome on the deal's page.\n{{.Link}}"},
	},
}

type mailData struct {
	Title, Seller, Due, Paid, DueBy, PayTo, Ref, Carrier, Tracking, Link string
}

var mailTemplates = func() map[string]map[string][2]*template.Template {
	out := map[string]map[string][2]*template.Template{}
	for key, langs := range mails {
		out[key] = map[string][2]*template.Template{}
		for lang, t := range langs {
			out[key][lang] = [2]*template.Template{
				template.Must(template.New(key + ".subject").Option("missingkey=error").Parse(t.subject)),
				template.Must(template.New(key + ".body").Option("missingkey=error").Parse(t.body)),
			}
		}
	}
	return out
}()

// mail composes message key for party p of deal d, in their language.
func (s *Service) mail(d Deal, p Party, key string) notify.Mail {
	to := d.Buyer
	if p == Seller {
		to = d.Seller
	}
	lang := to.Locale
	if lang != "en" {
		lang = "ja"
	}
	asset := money.Asset{Code: d.Currency, Scale: d.Scale}
	data := mailData{
		Title: d.Title, Seller: d.Seller.Email, Due: asset.Format(d.AmountDue) + " " + d.Currency,
		Paid: asset.Format(d.AmountPaid) + " " + d.Currency, PayTo: s.cfg.PayTo, Ref: d.PaymentRef,
		Carrier: d.Carrier, Tracking: d.TrackingNumber,
	}
	if d.DueAt != nil {
		data.DueBy = d.DueAt.Format("2006-01-02 15:04 MST")
	}
	if s.cfg.PortalURL != "" {
		data.Link = strings.TrimRight(s.cfg.PortalURL, "/") + "/deals/" + d.ID
	}
	t := mailTemplates[key][lang]
	var subj, body bytes.Buffer
	if err := t[0].Execute(&subj, data); err != nil {
		panic("escrow: mail " + key + ": " + err.Error()) // the catalog is fixed and tested
	}
	if err := t[1].Execute(&body, data); err != nil {
		panic("escrow: mail " + key + ": " + err.Error())
	}
	return notify.Mail{To: to.Email, Subject: strings.ReplaceAll(subj.String(), "\n", " "),
		Text: body.String(), Ref: "deal " + d.ID + " " + key + " " + string(p)}
}
