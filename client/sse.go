package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// sseReader parses a Server-Sent Events stream (the WHATWG "event stream"
// format): lines end with CRLF, LF or CR; a blank line dispatches the
// event; lines starting with a colon are comments (the server's pings);
// "data" lines accumulate, joined by LF; "id", "event" and "retry" set
// their fields; other fields are ignored.
type sseReader struct {
	r *bufio.Reader
	// maxEvent bounds the bytes of one event's lines, so a stream without
	// blank lines cannot grow memory without end.
	maxEvent int

	line   []byte
	skipLF bool // the previous line ended with CR: a following LF belongs to it
	size   int  // bytes of the event being read

	// lastID is the last event ID buffer: it persists across events, as
	// the format says.
	lastID    []byte
	hasLastID bool
}

// sseEvent is one dispatched event. Data and ID alias the reader's
// buffers and are valid until the next call to next.
type sseEvent struct {
	ID    []byte
	HasID bool
	Event []byte
	Data  []byte
	// Retry is the reconnection time the server asked for, in
	// milliseconds; -1 when the event did not set it.
	Retry int64
	// Comments counts the comment lines (pings) read since the previous
	// event.
	Comments int
}

var errEventTooLarge = errors.New("event stream: event exceeds the size limit")

func newSSEReader(r io.Reader, maxEvent int) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 32<<10), maxEvent: maxEvent}
}

// readLine returns the next line without its terminator. A last line
// without a terminator is dropped at EOF, as the format says.
func (s *sseReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		n := s.r.Buffered()
		if n == 0 {
			if _, err := s.r.Peek(1); err != nil {
				return nil, err
			}
			n = s.r.Buffered()
		}
		buf, _ := s.r.Peek(n)
		if s.skipLF {
			s.skipLF = false
			if buf[0] == '\n' {
				_, _ = s.r.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			s.line = append(s.line, buf...)
			_, _ = s.r.Discard(n)
			if s.size+len(s.line) > s.maxEvent {
				return nil, errEventTooLarge
			}
			continue
		}
		s.line = append(s.line, buf[:i]...)
		s.skipLF = buf[i] == '\r'
		_, _ = s.r.Discard(i + 1)
		s.size += len(s.line) + 1
		if s.size > s.maxEvent {
			return nil, errEventTooLarge
		}
		return s.line, nil
	}
}

// next reads lines until an event with data is dispatched. Events without
// data are not dispatched (but their id is kept), as the format says.
func (s *sseReader) next(ev *sseEvent) error {
	ev.Event = ev.Event[:0]
	ev.Data = ev.Data[:0]
	ev.Retry = -1
	ev.Comments = 0
	hasData := false
	s.size = 0
	for {
		line, err := s.readLine()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			s.size = 0
			if !hasData {
				ev.Event = ev.Event[:0]
				continue
			}
			if n := len(ev.Data); n > 0 && ev.Data[n-1] == '\n' {
				ev.Data = ev.Data[:n-1]
			}
			ev.ID = append(ev.ID[:0], s.lastID...)
			ev.HasID = s.hasLastID
			return nil
		}
		if line[0] == ':' {
			ev.Comments++
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			ev.Data = append(ev.Data, value...)
			ev.Data = append(ev.Data, '\n')
			hasData = true
		case "event":
			ev.Event = append(ev.Event[:0], value...)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				s.lastID = append(s.lastID[:0], value...)
				s.hasLastID = true
			}
		case "retry":
			if n, err := strconv.ParseInt(string(value), 10, 64); err == nil && n >= 0 && isDigits(value) {
				ev.Retry = n
			}
		}
	}
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// parseSeq reads an event id as the API's positive sequence number.
func parseSeq(id []byte) (int64, error) {
	n, err := strconv.ParseInt(string(id), 10, 64)
	if err != nil || n <= 0 || !isDigits(id) {
		return 0, fmt.Errorf("event id %q is not a positive integer", id)
	}
	return n, nil
}
