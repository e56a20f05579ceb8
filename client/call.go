package client

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	headerIdempotencyKey = "Idempotency-Key"
	headerIndex          = "X-Index"
	headerReplayed       = "Idempotent-Replayed"
	headerLeader         = "X-Leader"
	headerRetryAfter     = "Retry-After"
	headerRequestID      = "X-Request-Id"
)

// route says where a call may be served and what may be retried.
type route uint8

const (
	// routeLeader: writes and leader/linearizable reads; a follower
	// redirects, and a success proves the node leads.
	routeLeader route = iota
	// routeAny: per-node endpoints (status, health) and stale reads.
	routeAny
)

// call is one API call, built by the typed methods.
type call struct {
	op     string // the method's name, for errors
	method string
	path   string // escaped path and query
	write  bool
	read   bool // takes consistency and min_index
	body   any  // encoded in the client's encoding; nil for none
	out    any  // decoded from a 2xx body; nil to ignore it
	// long calls (backup, restore) use the whole deadline for one
	// attempt instead of AttemptTimeout.
	long bool
	// stream, when set, receives a 2xx body as a stream instead of out.
	stream func(body *fasthttp.Response) error
	// anyNode: served by whichever node is asked (status, health,
	// backups), so a success says nothing about who leads.
	anyNode bool
	// once: a single attempt, no retries (health and readiness probes
	// report on one node; a streamed request body cannot be re-sent).
	once bool
}

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// responsePool keeps the responses of finished calls, each with its body
// buffer, for the next calls. fasthttp's own pool does not serve list
// pages well: its buffers go back to a pool shared by bodies of every size
// and emptied by every garbage collection, so a 30 KB page often landed in
// a small or fresh buffer and paid for a new one, zeroed, on every read.
// Here a buffer only grows, up to maxKeptBody, and the pool holds at most
// cap(free) of them (a few MB for list pages).
type responsePool struct {
	free chan *fasthttp.Response
}

// maxKeptBody is the largest body buffer kept for reuse; larger ones
// (pages of hundreds of chats) go back to fasthttp.
const maxKeptBody = 256 << 10

func newResponsePool(n int) responsePool {
	return responsePool{free: make(chan *fasthttp.Response, n)}
}

func (p responsePool) get() *fasthttp.Response {
	select {
	case r := <-p.free:
		return r
	default:
	}
	r := fasthttp.AcquireResponse()
	r.KeepBodyBuffer = true
	return r
}

// put takes r back; nothing may use r, or what its Body returned, after.
func (p responsePool) put(r *fasthttp.Response) {
	if cap(r.Body()) > maxKeptBody {
		fasthttp.ReleaseResponse(r)
		return
	}
	r.Reset()
	select {
	case p.free <- r:
	default:
		fasthttp.ReleaseResponse(r)
	}
}

// do runs c, retrying and following redirects as the Client's contract
// says.
func (c *Client) do(ctx context.Context, cl *call, opts []Option) error {
	if c.closed.Load() {
		return ErrClosed
	}
	var o callOptions
	for _, opt := range opts {
		opt(&o)
	}

	rt := routeLeader
	uri := cl.path
	if cl.read {
		consistency := c.cfg.Consistency
		if o.consistency != "" {
			consistency = o.consistency
		}
		if consistency == ConsistencyStale {
			rt = routeAny
		}
		uri = appendReadParams(uri, consistency, o)
	}
	if cl.anyNode {
		rt = routeAny
	}

	key := ""
	if cl.write && !o.noIdempotencyKey {
		key = o.idempotencyKey
		if key == "" {
			key, _ = ctx.Value(idempotencyKeyCtx{}).(string)
		}
		if key == "" {
			key = newIdempotencyKey()
		}
		if !validIdempotencyKey(key) {
			return &Error{Status: 400, Code: "invalid_field", Field: headerIdempotencyKey,
				Message: "Idempotency-Key must be 1 to 128 printable ASCII characters"}
		}
	}

	now := time.Now()
	deadline, hasDeadline := ctx.Deadline()
	if !hasDeadline {
		deadline = now.Add(c.cfg.Timeout)
	}
	attemptTimeout := c.cfg.AttemptTimeout
	if cl.read && o.minIndex > 0 {
		if o.waitSet {
			attemptTimeout += o.wait
		} else {
			attemptTimeout += 5 * time.Second // the server's default wait
		}
	}

	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	var resp *fasthttp.Response
	if cl.stream != nil {
		resp = fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
	} else {
		resp = c.responses.get()
		defer c.responses.put(resp)
	}

	req.Header.SetMethod(cl.method)
	req.Header.Set(fasthttp.HeaderAccept, c.cfg.Encoding.contentType())
	if c.authHeader != "" {
		req.Header.Set(fasthttp.HeaderAuthorization, c.authHeader)
	}
	if key != "" {
		req.Header.Set(headerIdempotencyKey, key)
	}
	if o.requestID != "" {
		if !validIdempotencyKey(o.requestID) { // the same rule
			return &Error{Status: 400, Code: "invalid_field", Field: headerRequestID,
				Message: "X-Request-Id must be 1 to 128 printable ASCII characters"}
		}
		req.Header.Set(headerRequestID, o.requestID)
	}
	if cl.body != nil {
		buf := bufferPool.Get().(*bytes.Buffer)
		buf.Reset()
		defer bufferPool.Put(buf)
		if err := encodeBody(c.cfg.Encoding, buf, cl.body); err != nil {
			return fmt.Errorf("chatstate client: %s: encoding the request: %w", cl.op, err)
		}
		req.Header.SetContentType(c.cfg.Encoding.contentType())
		req.SetBodyRaw(buf.Bytes())
	}

	var target *node
	if o.addr != "" {
		addr, err := normalizeAddr(o.addr)
		if err != nil {
			return fmt.Errorf("chatstate client: %s: %w", cl.op, err)
		}
		var ok bool
		if target, ok = c.nodeFor(addr); !ok {
			return fmt.Errorf("chatstate client: %s: too many addresses known", cl.op)
		}
	} else if cl.read && rt == routeAny {
		// A stale read may be served by any node: spread them over all,
		// which is what stale reads are for.
		target = c.rotate()
	} else {
		target = c.pick()
	}
	hc := func(n *node) *fasthttp.HostClient {
		if cl.stream != nil {
			return n.stream
		}
		return n.hc
	}

	var (
		lastErr    error
		attempts   int
		retries    int // backoff rounds so far
		redirects  int
		failedHere int // consecutive connection failures since the last backoff
		path       = uri
	)
	giveUp := func(cause error) error {
		return &gaveUpError{op: cl.op, attempts: attempts, cause: cause, last: lastErr}
	}
	// pause waits before the next round of attempts: the backoff of the
	// round, or atLeast (a Retry-After) when longer. It returns an error
	// when the deadline does not leave time for it, the context ends or
	// the client is closed.
	pause := func(atLeast time.Duration) error {
		retries++
		d := backoff(c.cfg.RetryBackoffMin, c.cfg.RetryBackoffMax, retries)
		if atLeast > d {
			d = atLeast
		}
		if time.Until(deadline) < d {
			return giveUp(context.DeadlineExceeded)
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return giveUp(ctx.Err())
		case <-c.done:
			return ErrClosed
		case <-t.C:
			return nil
		}
	}

	for {
		if err := ctx.Err(); err != nil {
			return giveUp(err)
		}
		attemptDeadline := deadline
		if !cl.long {
			if d := time.Now().Add(attemptTimeout); d.Before(attemptDeadline) {
				attemptDeadline = d
			}
		}
		if !time.Now().Before(attemptDeadline) {
			return giveUp(context.DeadlineExceeded)
		}
		attempts++
		req.SetRequestURI(path)
		req.Header.SetHost(target.addr)
		err := hc(target).DoDeadline(req, resp, attemptDeadline)
		if err != nil {
			if lastErr != nil && !attemptDeadline.Before(deadline) && errors.Is(err, fasthttp.ErrTimeout) {
				// The call's own deadline cut this attempt short: the
				// previous answer says more about why the call failed.
				return giveUp(context.DeadlineExceeded)
			}
			lastErr = fmt.Errorf("%s %s: %w", target.addr, cl.op, err)
			c.forgetLeader(target)
			var de *dialError
			notSent := errors.As(err, &de) || errors.Is(err, fasthttp.ErrNoFreeConns)
			if cl.write && key == "" && !notSent {
				// The write may have been applied; only the caller can
				// decide what to do.
				return fmt.Errorf("chatstate client: %s: %w (not retried: the write carries no Idempotency-Key)", cl.op, lastErr)
			}
			if cl.once {
				return fmt.Errorf("chatstate client: %w", lastErr)
			}
			c.cfg.Logger.Debug("chatstate client: node unreachable", "op", cl.op, "node", target.addr, "err", err)
			redirects = 0
			path = uri
			failedHere++
			if o.addr == "" {
				target = c.nextAfter(target)
			}
			if failedHere >= len(*c.ring.Load()) || o.addr != "" {
				failedHere = 0
				if err := pause(0); err != nil {
					return err
				}
			}
			continue
		}

		status := resp.StatusCode()
		switch {
		case status >= 200 && status < 300:
			if rt == routeLeader {
				c.noteLeader(target)
			}
			if o.meta != nil {
				*o.meta = Meta{
					Status:         status,
					Index:          parseIndex(resp),
					Replayed:       string(resp.Header.Peek(headerReplayed)) == "true",
					IdempotencyKey: key,
					Node:           target.addr,
					Attempts:       attempts,
				}
			}
			if cl.stream != nil {
				err := cl.stream(resp)
				if cerr := resp.CloseBodyStream(); err == nil && cerr != nil {
					err = cerr
				}
				return err
			}
			if cl.out == nil || status == fasthttp.StatusNoContent {
				return nil
			}
			if err := decodeBody(resp.Header.ContentType(), resp.Body(), cl.out); err != nil {
				return fmt.Errorf("chatstate client: %s: %w: decoding the %d answer of %s: %v", cl.op, ErrUnexpectedResponse, status, target.addr, err)
			}
			return nil

		case status == fasthttp.StatusTemporaryRedirect || status == fasthttp.StatusPermanentRedirect:
			next, nextPath, err := c.redirect(resp, target, path)
			closeStream(cl, resp)
			if err != nil {
				return fmt.Errorf("chatstate client: %s: %s answered %d: %w", cl.op, target.addr, status, err)
			}
			if rt == routeLeader {
				c.noteLeader(next)
			}
			c.cfg.Logger.Debug("chatstate client: redirected", "op", cl.op, "from", target.addr, "to", next.addr)
			target, path = next, nextPath
			redirects++
			if redirects > c.cfg.MaxRedirects {
				lastErr = ErrTooManyRedirects
				c.forgetLeader(target)
				redirects = 0
				path = uri
				if err := pause(0); err != nil {
					return err
				}
				target = c.pick()
			}
			continue
		}

		apiErr := decodeError(resp)
		closeStream(cl, resp)
		if !retryable(cl, key, o, apiErr) {
			if o.meta != nil {
				*o.meta = Meta{Status: status, Index: apiErr.Index, IdempotencyKey: key, Node: target.addr, Attempts: attempts}
			}
			return apiErr
		}
		lastErr = apiErr
		c.cfg.Logger.Debug("chatstate client: retrying", "op", cl.op, "node", target.addr, "status", status, "code", apiErr.Code)
		redirects = 0
		path = uri
		switch {
		case status == fasthttp.StatusGatewayTimeout:
			// The leader is slow, not gone: ask it again.
		case apiErr.Code == ErrLeadershipLost.Code:
			c.forgetLeader(target)
		default:
			// No leader known, or shutting down: another node may know
			// better.
			c.forgetLeader(target)
			if o.addr == "" {
				target = c.nextAfter(target)
			}
		}
		if err := pause(apiErr.RetryAfter); err != nil {
			return err
		}
		if o.addr == "" && apiErr.Code == ErrLeadershipLost.Code {
			target = c.pick()
		}
	}
}

// retryable reports whether an error answer may be retried.
//
//   - 503 (no_leader, leadership_lost, shutting_down): the cluster refused
//     the request or lost it with its leader. For a write the outcome may
//     be unknown (leadership_lost), which is exactly what the idempotency
//     key makes safe to retry.
//   - 504 timeout: a write's outcome is unknown, so it is retried with its
//     key too; a read is retried unless it asked for min_index, whose
//     504 is the answer ("not reached within wait").
//
// A write without a key is never retried, nor is a single-shot call.
func retryable(cl *call, key string, o callOptions, e *Error) bool {
	if cl.once || (cl.write && key == "") {
		return false
	}
	switch e.Status {
	case fasthttp.StatusServiceUnavailable:
		return true
	case fasthttp.StatusGatewayTimeout:
		return e.Code == ErrTimeout.Code && (cl.write || o.minIndex == 0)
	}
	return false
}

func closeStream(cl *call, resp *fasthttp.Response) {
	if cl.stream != nil {
		_ = resp.CloseBodyStream()
	}
}

// redirect reads a 307's Location (absolute URL to the leader, same path
// and query) or, without one, X-Leader (host:port).
func (c *Client) redirect(resp *fasthttp.Response, from *node, path string) (*node, string, error) {
	host := ""
	if loc := resp.Header.Peek(fasthttp.HeaderLocation); len(loc) > 0 {
		u, err := url.Parse(string(loc))
		if err != nil {
			return nil, "", fmt.Errorf("%w: Location %q: %v", ErrBadRedirect, loc, err)
		}
		if u.Scheme != "" && u.Scheme != "http" {
			return nil, "", fmt.Errorf("%w: Location %q: only http is supported", ErrBadRedirect, loc)
		}
		host = u.Host
		if u.Path != "" {
			path = u.RequestURI()
		}
	}
	if host == "" {
		host = string(resp.Header.Peek(headerLeader))
	}
	if host == "" {
		return nil, "", ErrBadRedirect
	}
	addr, err := normalizeAddr(host)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadRedirect, err)
	}
	n, ok := c.nodeFor(addr)
	if !ok {
		return nil, "", fmt.Errorf("%w: too many addresses known", ErrBadRedirect)
	}
	return n, path, nil
}

// decodeError turns an error answer into *Error, whatever its body.
func decodeError(resp *fasthttp.Response) *Error {
	status := resp.StatusCode()
	e := &Error{Status: status, Index: parseIndex(resp)}
	if ra := resp.Header.Peek(headerRetryAfter); len(ra) > 0 {
		e.RetryAfter = parseRetryAfter(string(ra))
	}
	var body []byte
	if resp.IsBodyStream() {
		// An error body of a streamed answer is small; read a bounded
		// prefix.
		body = readPrefix(resp, 64<<10)
	} else {
		body = resp.Body()
	}
	var eb struct {
		Error struct {
			Code    string  `json:"code"`
			Message string  `json:"message"`
			Field   *string `json:"field"`
		} `json:"error"`
	}
	if err := decodeBody(resp.Header.ContentType(), body, &eb); err == nil && eb.Error.Code != "" {
		e.Code = eb.Error.Code
		e.Message = eb.Error.Message
		if eb.Error.Field != nil {
			e.Field = *eb.Error.Field
		}
		return e
	}
	e.Code = codeForStatus(status)
	e.Message = textPrefix(body, 512)
	return e
}

func readPrefix(resp *fasthttp.Response, limit int64) []byte {
	var buf bytes.Buffer
	if s := resp.BodyStream(); s != nil {
		_, _ = buf.ReadFrom(io.LimitReader(s, limit))
	}
	return buf.Bytes()
}

// textPrefix returns at most n bytes of b as valid UTF-8 text.
func textPrefix(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[:n]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}

func parseIndex(resp *fasthttp.Response) uint64 {
	v := resp.Header.Peek(headerIndex)
	if len(v) == 0 {
		return 0
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// parseRetryAfter reads delay-seconds (fractions accepted) or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 && secs < 3600 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := time.Parse("Mon, 02 Jan 2006 15:04:05 GMT", v); err == nil {
		if d := time.Until(t); d > 0 && d < time.Hour {
			return d
		}
	}
	return 0
}

// backoff is the pause before retry round n (1, 2, ...): exponential
// from min, capped at max, with jitter over its upper half so that many
// clients do not return at the same instant.
func backoff(min, max time.Duration, n int) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// newIdempotencyKey returns 128 random bits as 26 base32 characters.
func newIdempotencyKey() string { return crand.Text() }

// validIdempotencyKey checks the API's 1 to 128 printable ASCII
// characters; spaces are allowed inside only, since HTTP trims them at the
// ends.
func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 128 || k[0] == ' ' || k[len(k)-1] == ' ' {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// appendReadParams adds consistency, min_index and wait to a read's URI.
func appendReadParams(uri string, consistency Consistency, o callOptions) string {
	if consistency == ConsistencyDefault && o.minIndex == 0 {
		return uri
	}
	q := query{b: []byte(uri)}
	if bytes.IndexByte(q.b, '?') >= 0 {
		q.started = true
	}
	if consistency != ConsistencyDefault {
		q.add("consistency", string(consistency))
	}
	if o.minIndex > 0 {
		q.add("min_index", strconv.FormatUint(o.minIndex, 10))
		if o.waitSet {
			q.add("wait", o.wait.String())
		}
	}
	return string(q.b)
}
