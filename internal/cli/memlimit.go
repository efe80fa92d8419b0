package cli

import (
	"runtime/debug"
	"strconv"
	"strings"
)

// serveGCPercent is the garbage collector's target that kinko serve runs
// with unless GOGC is set: the heap may grow to five times what is live
// before a collection, instead of twice. A server's live heap is small (tens
// of MiB), and collecting less often gave 6–10% more requests/s on both
// stores (docs/benchmarks.md).
const serveGCPercent = 400

// cgroupMemoryFiles are where Linux tells a process in a container its
// memory limit: cgroup v2, then v1.
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// cgroupUnlimited is the least value cgroup v1 reports for "no limit"
// (it rounds 2^63-1 down to a page).
const cgroupUnlimited = 1 << 62

// tuneGC sets the garbage collector for a server: serveGCPercent unless
// GOGC is set, and, unless GOMEMLIMIT is set, a soft memory limit of 90% of
// the container's (read with read from cgroupMemoryFiles), so that the
// larger heap the first allows never runs a memory-limited container out
// of memory. It returns the limit it set, 0 for none.
func tuneGC(getenv func(string) (string, bool), read func(string) ([]byte, error)) int64 {
	if _, set := getenv("GOGC"); set {
		return 0
	}
	debug.SetGCPercent(serveGCPercent)
	if _, set := getenv("GOMEMLIMIT"); set {
		return 0
	}
	limit := containerMemoryLimit(read)
	if limit <= 0 {
		return 0
	}
	limit = limit / 10 * 9
	debug.SetMemoryLimit(limit)
	return limit
}

// containerMemoryLimit is the first memory limit cgroupMemoryFiles hold,
// in bytes, or 0 when none is set or none can be read.
func containerMemoryLimit(read func(string) ([]byte, error)) int64 {
	for _, f := range cgroupMemoryFiles {
		b, err := read(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= cgroupUnlimited {
			return 0
		}
		return n
	}
	return 0
}
