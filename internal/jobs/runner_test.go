package jobs

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// TestStopCancelsJobsPastTheTimeout: a receiver that never answers holds a
// delivery job; Stop waits StopTimeout, then cancels the job, which records
// its failed attempt before Stop returns, and the delivery stays pending for
// a retry.
func TestStopCancelsJobsPastTheTimeout(t *testing.T) {
	inflight := make(chan struct{}, 1)
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // the server notices a closed connection only once the body is read
		select {
		case inflight <- struct{}{}:
		default:
		}
		<-r.Context().Done() // hang until the sender gives up
	})
	r, err := NewRunner(Config{Store: f.st, Webhooks: f.hooks, Render: func(e event.Event) []byte { return e.Data },
		StopTimeout: 100 * time.Millisecond, DispatchInterval: 10 * time.Millisecond, WebhookAllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			r.Stop()
		}
	})
	ids := f.events(1) // dispatched here; the runner's workers pick the job up
	select {
	case <-inflight:
	case <-time.After(waitMax):
		t.Fatalf("no delivery reached the receiver within %s", waitMax)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	stopped = true
	d := f.deliveries(ids[0])
	as := f.attempts(ids[0])
	if d.State != webhook.DeliveryPending || d.Attempts != 1 || len(as) != 1 || as[0].Succeeded || as[0].Error == "" {
		t.Fatalf("after a cancelled job: delivery %+v, attempts %+v; want one failed attempt recorded and the delivery pending", d, as)
	}
}

// waitMax bounds waits for asynchronous work in these tests: a deadline
// against hanging, not a speed requirement.
const waitMax = time.Minute
