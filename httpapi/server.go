package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Server serves the HTTP API of one node.
type Server struct {
	cfg     Config
	backend Backend
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *metrics
	routes  routeTable
	lim     limits
	srv     *fasthttp.Server

	metricsHandler fasthttp.RequestHandler

	// closing is closed by Shutdown: event streams end when they see it.
	// stopCtx ends with it, for reads waiting on min_index.
	closing   chan struct{}
	closeOnce sync.Once
	stopCtx   context.Context
	stop      context.CancelFunc
	// streams counts running stream writers (events, backups);
	// openStreams counts event streams (also exported as a gauge).
	streams     sync.WaitGroup
	openStreams atomic.Int64

	requests sync.Pool
	// chats holds recently rendered chat versions (nil: off).
	chats *chatCache

	// Request ids are this server's random prefix and a counter.
	idPrefix string
	idSeq    atomic.Uint64
}

// New builds a Server for backend. It does not listen yet (see Serve).
func New(cfg Config, backend Backend) (*Server, error) {
	if backend == nil {
		return nil, fmt.Errorf("%w: nil backend", ErrInvalidConfig)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		backend: backend,
		log:     cfg.Logger,
		reg:     cfg.Registry,
		lim:     limits{text: cfg.MaxTextBytes, name: cfg.MaxNameBytes},
		closing: make(chan struct{}),
		chats:   newChatCache(cfg.ChatRenderCache),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(s.reg)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	var prefix [4]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return nil, fmt.Errorf("httpapi: request id prefix: %w", err)
	}
	s.idPrefix = hex.EncodeToString(prefix[:]) + "-"
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	s.requests.New = func() any { return &request{s: s} }
	s.metricsHandler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog: slogPrinter{s.log},
	}))
	s.registerRoutes()
	s.srv = &fasthttp.Server{
		Handler:            s.handle,
		ErrorHandler:       s.handleParseError,
		Name:               cfg.ServerName,
		MaxRequestBodySize: cfg.MaxBodyBytes,
		// Bodies over MaxRequestBodySize reach the handler as a stream,
		// so that restore can take a large backup while every other
		// endpoint answers 413 (see readBody).
		StreamRequestBody: true,
		// Multipart bodies are not part of the API: never let fasthttp
		// parse them (or spool them to disk) before the handler refuses
		// them with 415.
		DisablePreParseMultipartForm: true,
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		CloseOnShutdown:              true,
		Logger:                       slogPrinter{s.log},
	}
	return s, nil
}

// Handler returns the request handler, for tests that drive the API
// without a listener (fasthttputil.InmemoryListener or direct calls).
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// Serve serves the API on ln until Shutdown. It returns nil after a
// Shutdown, else the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	select {
	case <-s.closing:
		return nil
	default:
		return err
	}
}

// ListenAndServe listens on addr (host:port) and serves the API until
// Shutdown.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("httpapi: listen %s: %w", addr, err)
	}
	return s.Serve(ln)
}

// Shutdown stops accepting connections, ends event streams, and waits for
// in-flight requests to finish or ctx to end, whichever is first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.stop()
	})
	err := s.srv.ShutdownWithContext(ctx)
	done := make(chan struct{})
	go func() {
		s.streams.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// slogPrinter adapts the logger to fasthttp's and promhttp's Printf/Println
// loggers.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, args ...any) {
	p.log.Warn(fmt.Sprintf(format, args...), "component", "http")
}

func (p slogPrinter) Println(args ...any) {
	p.log.Warn(fmt.Sprint(args...), "component", "http")
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	r := s.requests.Get().(*request)
	r.ctx = ctx
	defer s.finish(r, start)

	route, params := matchRoute(ctx.Path())
	r.route, r.params = route, params
	r.mp = wantsMsgpack(ctx.Request.Header.Peek("Accept"))
	if route == routeNone {
		r.fail(notFound("no such endpoint: %s %s", ctx.Method(), quote(string(ctx.Path()))))
		return
	}
	m, ok := methodOf(ctx.Method())
	var ep *endpoint
	if ok {
		ep = s.routes.endpoints[route][m]
	}
	if ep == nil {
		ctx.Response.Header.Set("Allow", s.routes.allow[route])
		r.fail(&apiError{status: 405, code: codeMethodNotAllowed,
			message: fmt.Sprintf("method %s is not allowed here; allowed: %s", ctx.Method(), s.routes.allow[route])})
		return
	}
	if ep.scope != scopeOpen {
		if err := s.authenticate(r); err != nil {
			r.fail(err)
			return
		}
	}
	if err := r.parsePath(); err != nil {
		r.fail(err)
		return
	}
	if err := s.authorize(r, ep.scope); err != nil {
		r.fail(err)
		return
	}
	ep.handle(r)
}

// finish recovers a panic, records metrics and returns r to the pool.
func (s *Server) finish(r *request, start time.Time) {
	if p := recover(); p != nil {
		s.metrics.panics.Inc()
		s.log.Error("panic in HTTP handler", "panic", fmt.Sprint(p), "method", string(r.ctx.Method()),
			"path", string(r.ctx.Path()), "stack", string(debug.Stack()))
		r.ctx.Response.Reset()
		r.fail(errPanic)
	}
	s.metrics.observe(r.route, r.ctx.Method(), r.ctx.Response.StatusCode(), time.Since(start))
	r.ctx = nil
	r.params = pathParams{}
	r.account, r.sub, r.chat = "", "", 0
	r.who = principal{}
	r.mp = false
	if cap(r.e.b) > 1<<20 {
		r.e.b = nil // do not pool huge buffers
	}
	if cap(r.scratch) > 1<<20 {
		r.scratch = nil
	}
	s.requests.Put(r)
}

var errPanic = errors.New("handler panic")

// handleParseError answers a request fasthttp could not read, in the API's
// error format.
func (s *Server) handleParseError(ctx *fasthttp.RequestCtx, err error) {
	r := &request{s: s, ctx: ctx, mp: wantsMsgpack(ctx.Request.Header.Peek("Accept"))}
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		r.fail(&apiError{status: 413, code: codePayloadTooLarge,
			message: fmt.Sprintf("the request body is larger than %d bytes", s.cfg.MaxBodyBytes)})
	case errors.As(err, &small):
		r.fail(&apiError{status: 431, code: codeBadRequest, message: "the request headers are too large"})
	case errors.As(err, &netErr) && netErr.Timeout():
		r.fail(&apiError{status: 408, code: codeBadRequest, message: "the request was not received in time"})
	default:
		r.fail(badRequest("the request could not be parsed: %v", err))
	}
	s.metrics.observe(routeNone, ctx.Method(), ctx.Response.StatusCode(), 0)
}
