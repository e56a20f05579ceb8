package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress prints a status line while a long phase runs. On a terminal it
// rewrites one line with \r several times a second; elsewhere (a log
// file, CI) it prints a line every few seconds so the log stays short.
type Progress struct {
	w        io.Writer
	tty      bool
	interval time.Duration

	mu      sync.Mutex
	stop    chan struct{}
	done    chan struct{}
	lastLen int
}

// NewProgress writes to w; tty says whether w is a terminal.
func NewProgress(w io.Writer, tty bool) *Progress {
	p := &Progress{w: w, tty: tty, interval: 5 * time.Second}
	if tty {
		p.interval = 250 * time.Millisecond
	}
	return p
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Start shows status() until Stop, prefixed with label. One phase at a
// time: Start stops the previous one.
func (p *Progress) Start(label string, status func(elapsed time.Duration) string) {
	p.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	stop, done := make(chan struct{}), make(chan struct{})
	p.stop, p.done = stop, done
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.show(label + ": " + status(time.Since(start)))
			}
		}
	}()
}

// Stop ends the current line, if any.
func (p *Progress) Stop() {
	p.mu.Lock()
	stop, done := p.stop, p.done
	p.stop, p.done = nil, nil
	p.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.lastLen > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.lastLen))
		p.lastLen = 0
	}
}

// Printf prints a permanent line (a phase's result, a note).
func (p *Progress) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.lastLen > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.lastLen))
		p.lastLen = 0
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *Progress) show(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := ""
	if n := p.lastLen - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.lastLen = len(line)
}
