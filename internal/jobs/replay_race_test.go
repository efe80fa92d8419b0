package jobs

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/webhook"
)

// A replay accepted while an older job for the same delivery is in flight
// must not be undone by that job's late "gave up" record.
func TestDeliverReplayNotUndoneByLateGiveUp(t *testing.T) {
	inflight, release := make(chan struct{}), make(chan struct{})
	first := true
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if first {
			first = false
			close(inflight)
			<-release
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ids := f.events(1)
	// The old job runs near the end of the delivery's 72 h window.
	f.now.Add((webhook.RetryWindow + time.Minute).Microseconds())
	done := make(chan error, 1)
	go func() { done <- f.work(ids, 7) }()
	<-inflight
	// The operator replays now: API says the event will be sent again.
	if _, err := f.hooks.Replay(context.Background(), "org_a", ids[0], f.endpoint.ID); err != nil {
		t.Fatal(err)
	}
	if d := f.deliveries(ids[0]); d.State != webhook.DeliveryPending {
		t.Fatalf("after replay: %+v", d)
	}
	close(release)
	<-done
	// The replay's own job now runs.
	before := f.requests.Load()
	_ = f.work(ids, 1)
	d := f.deliveries(ids[0])
	t.Logf("delivery after both jobs: %+v; requests sent by the replay job: %d", d, f.requests.Load()-before)
	if f.requests.Load() == before || d.State != webhook.DeliverySucceeded {
		t.Fatalf("the replay was lost: the old job's give-up overwrote the replayed pending delivery (state %s) and the replay job sent nothing", d.State)
	}
}
