package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Bounds of the mail queue.
const (
	// MailBatchMax bounds the mails of one enqueue call; a longer list (a
	// notice to many merchants) is split by the caller, in one transaction or
	// several.
	MailBatchMax = 1000
	// MailAttemptsMax bounds the tries of one mail job: with MailBackoff
	// from MailBackoffBaseDefault, the last one is about 13 hours after the
	// first. Then the job is discarded and the mail is not sent.
	MailAttemptsMax = 20
	// MailBackoffBaseDefault is the wait before a failed mail's first retry;
	// each further retry waits twice as long, up to MailBackoffCap.
	MailBackoffBaseDefault = 30 * time.Second
	MailBackoffCap         = time.Hour
)

// Queue queues mail as durable jobs, each sent once it is committed. Edges
// that change no state of their own (a sign-up page sending a verification
// link) use it; a product that changes state uses its transaction's TxQueue,
// so that the mail is queued if and only if the change commits. Both store
// adapters implement it.
type Queue interface {
	// MailEnqueue validates every mail (ValidateMails) and queues them all in
	// one transaction, or none.
	//
	// Errors: invalid.
	MailEnqueue(ctx context.Context, mails []Mail) error
}

// TxQueue is what a store transaction offers to queue mail with the rest of
// its writes. Products embed it in the transaction interface of their store.
type TxQueue interface {
	// MailsEnqueue validates every mail (ValidateMails) and queues them in
	// the transaction: they are sent only if it commits.
	//
	// Errors: invalid.
	MailsEnqueue(ctx context.Context, mails []Mail) error
}

// ValidateMails checks a list of mails before it is queued: at most
// MailBatchMax of them, each valid. The error names the first bad mail by
// its index ("mails[3].to").
//
// Errors: invalid.
func ValidateMails(mails []Mail) error {
	if len(mails) > MailBatchMax {
		return apperr.Invalid("mails", "at most %d mails at a time, got %d", MailBatchMax, len(mails))
	}
	for i, m := range mails {
		if err := m.Validate(); err != nil {
			var ae *apperr.Error
			if errors.As(err, &ae) {
				return &apperr.Error{Code: ae.Code, Message: ae.Message, Param: fmt.Sprintf("mails[%d].%s", i, ae.Param)}
			}
			return err
		}
	}
	return nil
}

// MailBackoff is the wait before retry n (1 for the first retry) of a mail
// job that failed for a temporary reason: base doubling per retry, capped at
// MailBackoffCap, plus up to 10% jitter so that the mails of one relay
// outage do not all come back at once. base ≤ 0 means MailBackoffBaseDefault.
func MailBackoff(base time.Duration, n int) time.Duration {
	if base <= 0 {
		base = MailBackoffBaseDefault
	}
	d := base
	for i := 1; i < n && d < MailBackoffCap; i++ {
		d *= 2
	}
	d = min(d, MailBackoffCap)
	return d + time.Duration(rand.Int64N(int64(d/10)+1))
}

// ErrPermanent marks a failure that sending again cannot fix: the relay
// refused the message or its recipient for good (an SMTP 5xx answer), or the
// message cannot be built. A Sender wraps it (errors.Is finds it); the mail
// job then stops at once instead of retrying. Every other error of a Sender
// is temporary.
var ErrPermanent = errors.New("permanent mail failure")
