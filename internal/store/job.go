package store

import "context"

// JobClient is the durable job queue (River) on an adapter's database, as a
// server runs it: package jobs registers the workers, then Start works jobs
// until Stop, which waits for the jobs in hand to finish (bounded by ctx).
// *river.Client satisfies it whatever its driver.
type JobClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}
