package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

func (s *Server) healthz(r *request) {
	r.ctx.SetStatusCode(200)
	r.ctx.SetContentType("text/plain; charset=utf-8")
	r.ctx.SetBodyString("ok\n")
}

// readyz answers 200 when the node knows a leader and has caught up, else
// 503 with one reason per line.
func (s *Server) readyz(r *request) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	reasons := s.backend.Ready(ctx)
	cancel()
	r.ctx.SetContentType("text/plain; charset=utf-8")
	if len(reasons) == 0 {
		r.ctx.SetStatusCode(200)
		r.ctx.SetBodyString("ok\n")
		return
	}
	r.ctx.SetStatusCode(503)
	r.ctx.Response.Header.Set("Retry-After", "1")
	r.ctx.SetBodyString(strings.Join(reasons, "\n") + "\n")
}

func (s *Server) serveMetrics(r *request) {
	s.metricsHandler(r.ctx)
}

func (s *Server) status(r *request) {
	st := s.backend.Status()
	renderStatus(r.begin(), &st)
	r.send(200)
}

// clusterJoin adds a voter; the answer is the member list afterwards.
func (s *Server) clusterJoin(r *request) {
	b, ok := decodeBody(r, false, decodeJoinBody)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	err := s.backend.Join(ctx, NodeInfo{ID: b.ID, Raft: b.Raft, HTTP: b.HTTP})
	cancel()
	if err != nil {
		r.fail(err)
		return
	}
	s.renderMembers(r)
}

func (s *Server) clusterRemove(r *request) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	err := s.backend.RemoveNode(ctx, r.sub)
	cancel()
	if err != nil {
		r.fail(err)
		return
	}
	s.renderMembers(r)
}

func (s *Server) renderMembers(r *request) {
	st := s.backend.Status()
	e := r.begin()
	e.objectStart(1)
	e.key("nodes")
	renderNodes(e, st.Nodes)
	e.objectEnd()
	r.send(200)
}

func (s *Server) clusterSnapshot(r *request) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	index, err := s.backend.Snapshot(ctx)
	cancel()
	if err != nil {
		r.fail(err)
		return
	}
	e := r.begin()
	e.objectStart(1)
	e.key("index")
	e.uint(index)
	e.objectEnd()
	r.send(200)
}

// clusterBackup streams a consistent copy of the state. Errors after the
// first byte can only cut the stream short (the client sees a truncated
// chunked body, never a complete one).
func (s *Server) clusterBackup(r *request) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	backup, err := s.backend.Backup(ctx)
	cancel()
	if err != nil {
		r.fail(err)
		return
	}
	index := s.backend.FSM().AppliedIndex()
	r.ctx.SetStatusCode(200)
	r.ctx.SetContentType("application/octet-stream")
	r.ctx.Response.Header.Set("Content-Disposition",
		`attachment; filename="chatstate-`+strconv.FormatUint(index, 10)+`.backup"`)
	// A large backup takes longer than the server's WriteTimeout.
	_ = r.ctx.SetWriteDeadline(time.Time{})
	s.streams.Add(1)
	log := s.log
	r.ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.streams.Done()
		defer backup.Close()
		defer func() {
			if p := recover(); p != nil {
				s.metrics.panics.Inc()
				log.Error("panic writing a backup", "panic", fmt.Sprint(p))
			}
		}()
		if _, err := backup.WriteTo(w); err != nil {
			log.Warn("backup stream ended early", "error", err)
			return
		}
		if err := w.Flush(); err != nil {
			log.Warn("backup stream ended early", "error", err)
		}
	})
}

// clusterRestore streams the body (up to MaxRestoreBytes) to the backend.
func (s *Server) clusterRestore(r *request) {
	req := &r.ctx.Request
	if cl := req.Header.ContentLength(); cl > 0 && int64(cl) > s.cfg.MaxRestoreBytes {
		r.fail(r.tooLargeRestore())
		return
	}
	var body io.Reader
	if req.IsBodyStream() {
		body = req.BodyStream()
	} else {
		body = strings.NewReader(string(req.Body()))
	}
	lr := &limitedReader{r: body, left: s.cfg.MaxRestoreBytes}
	// A restore may take long; it is bounded by the body's arrival and the
	// backend, not by the apply timeout.
	index, err := s.backend.Restore(context.Background(), lr)
	if lr.exceeded {
		r.fail(r.tooLargeRestore())
		return
	}
	if err != nil {
		r.fail(err)
		return
	}
	r.setIndex(index)
	e := r.begin()
	e.objectStart(1)
	e.key("index")
	e.uint(index)
	e.objectEnd()
	r.send(200)
}

func (r *request) tooLargeRestore() *apiError {
	if req := &r.ctx.Request; req.IsBodyStream() {
		_, _ = io.CopyN(io.Discard, req.BodyStream(), maxDiscard)
	}
	r.ctx.SetConnectionClose()
	return &apiError{status: 413, code: codePayloadTooLarge,
		message: fmt.Sprintf("the backup is larger than the limit of %d bytes", r.s.cfg.MaxRestoreBytes)}
}

// limitedReader fails once more than left bytes are read and remembers it.
type limitedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

var errRestoreTooLarge = fmt.Errorf("httpapi: backup exceeds the size limit")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		l.exceeded = true
		return 0, errRestoreTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.exceeded = true
		return n, errRestoreTooLarge
	}
	return n, err
}
