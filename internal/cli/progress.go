package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progressInterval bounds how often a progress line is written.
const progressInterval = time.Second

// progress writes a status line to w, at most once per progressInterval. On a
// terminal it rewrites one line in place; elsewhere (CI logs, files) it writes
// one line per update. It never writes to stdout, which carries results.
type progress struct {
	w        io.Writer
	terminal bool

	mu       sync.Mutex
	last     time.Time
	lastLine string
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, terminal: isTerminal(w)}
}

// Update shows line unless one was shown less than progressInterval ago.
func (p *progress) Update(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if !p.last.IsZero() && now.Sub(p.last) < progressInterval {
		return
	}
	p.last = now
	p.write(fmt.Sprintf(format, args...))
}

// Done shows a final line, whatever the time since the last one, and ends it.
func (p *progress) Done(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if line := fmt.Sprintf(format, args...); p.terminal || line != p.lastLine {
		p.write(line)
	}
	if p.terminal {
		fmt.Fprintln(p.w)
	}
	p.last, p.lastLine = time.Time{}, ""
}

func (p *progress) write(line string) {
	p.lastLine = line
	if p.terminal {
		// \033[K clears what a longer previous line left behind.
		fmt.Fprintf(p.w, "\r%s\033[K", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
