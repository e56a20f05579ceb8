package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/chatstate/chatstate/fsm"
)

// request is the per-request state, pooled. Nothing in it outlives the
// handler except what is copied into strings.
type request struct {
	s      *Server
	ctx    *fasthttp.RequestCtx
	route  routeID
	params pathParams
	// mp is true when the response is MessagePack.
	mp bool
	// account, sub (operator, key or node id) and chat are the validated
	// path parameters.
	account string
	sub     string
	chat    int64
	who     principal
	e       encoder
	scratch []byte
	// opCounts is the operators slice of the last counts answered on this
	// request value, reused so that counts allocate nothing.
	opCounts []fsm.OperatorCount
}

// wantsMsgpack reports whether an Accept header prefers MessagePack:
// it names application/msgpack (or x-msgpack) before any JSON type.
func wantsMsgpack(accept []byte) bool {
	if len(accept) == 0 {
		return false
	}
	i := bytes.Index(accept, []byte("msgpack"))
	if i < 0 {
		return false
	}
	j := bytes.Index(accept, []byte("json"))
	return j < 0 || i < j
}

// parsePath validates the route's path parameters.
func (r *request) parsePath() *apiError {
	p := &r.params
	if p.account != nil {
		if !fsm.ValidID(string(p.account)) {
			return invalidField("account_id", "%s is not a valid account id: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", quote(string(p.account)))
		}
		r.account = string(p.account)
	}
	if p.sub != nil {
		field, what := "operator_id", "operator"
		switch r.route {
		case routeKey:
			field, what = "key_id", "key"
		case routeClusterNode:
			field, what = "node_id", "node"
		}
		if !fsm.ValidID(string(p.sub)) {
			return invalidField(field, "%s is not a valid %s id: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", quote(string(p.sub)), what)
		}
		r.sub = string(p.sub)
	}
	if p.chat != nil {
		id, ok := parseDecimal(p.chat)
		if !ok || id <= 0 {
			return invalidField("chat_id", "%s is not a valid chat id: a positive integer", quote(string(p.chat)))
		}
		r.chat = id
	}
	return nil
}

// parseDecimal parses a non-negative decimal integer of at most 18
// digits, with no sign and no leading zeros (but "0").
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// begin starts a response body in the requested encoding.
func (r *request) begin() *encoder {
	r.e.reset(r.mp)
	return &r.e
}

// send answers status with the body rendered since begin.
func (r *request) send(status int) {
	ctx := r.ctx
	ctx.SetStatusCode(status)
	if r.mp {
		ctx.SetContentType("application/msgpack")
	} else {
		ctx.SetContentType("application/json")
	}
	ctx.SetBody(r.e.b)
}

// noContent answers 204.
func (r *request) noContent() {
	r.ctx.SetStatusCode(204)
	r.ctx.ResetBody()
}

// fail answers err in the API's error format (see classify).
func (r *request) fail(err error) {
	a := classify(err)
	ctx := r.ctx
	if a.internal {
		r.s.log.Error("request failed", "method", string(ctx.Method()), "path", string(ctx.Path()), "error", err)
	}
	if a.retryAfter {
		ctx.Response.Header.Set("Retry-After", "1")
	}
	if a.redirectTo != "" {
		uri := ctx.URI()
		loc := make([]byte, 0, 64)
		loc = append(loc, "http://"...)
		loc = append(loc, a.redirectTo...)
		loc = append(loc, uri.PathOriginal()...)
		if q := uri.QueryString(); len(q) > 0 {
			loc = append(loc, '?')
			loc = append(loc, q...)
		}
		ctx.Response.Header.SetBytesV("Location", loc)
		ctx.Response.Header.Set("X-Leader", a.redirectTo)
		ctx.SetStatusCode(a.status)
		ctx.ResetBody()
		return
	}
	e := r.begin()
	renderError(e, a.code, a.message, a.field)
	r.send(a.status)
}

// setIndex sets X-Index.
func (r *request) setIndex(index uint64) {
	r.scratch = strconv.AppendUint(r.scratch[:0], index, 10)
	r.ctx.Response.Header.SetBytesV("X-Index", r.scratch)
}

// requestID returns the client's X-Request-Id when it is usable, else a
// new one; it is echoed in the response and stamped into commands.
func (r *request) requestID() string {
	var id string
	if h := r.ctx.Request.Header.Peek("X-Request-Id"); len(h) > 0 && len(h) <= 128 && printableASCII(h) {
		id = string(h)
	} else {
		id = r.s.idPrefix + strconv.FormatUint(r.s.idSeq.Add(1), 10)
	}
	r.ctx.Response.Header.Set("X-Request-Id", id)
	return id
}

func printableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// readBody returns the request body, at most limit bytes (413 beyond). The
// slice is valid only during the handler.
func (r *request) readBody(limit int) ([]byte, *apiError) {
	req := &r.ctx.Request
	if !req.IsBodyStream() {
		b := req.Body()
		if len(b) > limit {
			return nil, r.tooLarge(limit)
		}
		return b, nil
	}
	if cl := req.Header.ContentLength(); cl > limit {
		return nil, r.tooLarge(limit)
	}
	buf := bytes.NewBuffer(r.scratch[:0])
	n, err := buf.ReadFrom(io.LimitReader(req.BodyStream(), int64(limit)+1))
	r.scratch = buf.Bytes()
	if err != nil {
		return nil, badRequest("the request body could not be read: %v", err)
	}
	if n > int64(limit) {
		return nil, r.tooLarge(limit)
	}
	return r.scratch, nil
}

// maxDiscard is how much of an oversized body is read and thrown away so
// that the client, still sending, gets to read the 413 instead of a
// connection reset.
const maxDiscard = 16 << 20

func (r *request) tooLarge(limit int) *apiError {
	if req := &r.ctx.Request; req.IsBodyStream() {
		_, _ = io.CopyN(io.Discard, req.BodyStream(), maxDiscard)
	}
	// The rest of the body may be unread: the connection cannot be reused.
	r.ctx.SetConnectionClose()
	return &apiError{status: 413, code: codePayloadTooLarge,
		message: fmt.Sprintf("the request body is larger than the limit of %d bytes", limit)}
}

// bodyIsMsgpack checks the Content-Type of a request with a body: JSON
// when absent or JSON, MessagePack for application/msgpack, else 415.
func (r *request) bodyIsMsgpack() (bool, *apiError) {
	ct := r.ctx.Request.Header.ContentType()
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	switch {
	case len(ct) == 0, bytes.EqualFold(ct, []byte("application/json")):
		return false, nil
	case bytes.EqualFold(ct, []byte("application/msgpack")),
		bytes.EqualFold(ct, []byte("application/x-msgpack")),
		bytes.EqualFold(ct, []byte("application/vnd.msgpack")):
		return true, nil
	}
	return false, &apiError{status: 415, code: codeUnsupportedMediaType,
		message: fmt.Sprintf("Content-Type %s is not supported: send application/json or application/msgpack", quote(string(ct)))}
}

// decodeBody reads, parses and validates a request body with dec.
// allowEmpty accepts a missing body as an empty object.
func decodeBody[T requestBody](r *request, allowEmpty bool, dec func(object, limits) (T, *apiError)) (T, bool) {
	var zero T
	body, err := r.readBody(r.s.cfg.MaxBodyBytes)
	if err != nil {
		r.fail(err)
		return zero, false
	}
	if len(body) == 0 && allowEmpty {
		v, err := dec(object{}, r.s.lim)
		if err != nil {
			r.fail(err)
			return zero, false
		}
		return v, true
	}
	mp, err := r.bodyIsMsgpack()
	if err != nil {
		r.fail(err)
		return zero, false
	}
	obj, err := parseBody(body, mp)
	if err != nil {
		r.fail(err)
		return zero, false
	}
	v, err := dec(obj, r.s.lim)
	if err != nil {
		r.fail(err)
		return zero, false
	}
	return v, true
}

// idempotencyKey returns the Idempotency-Key header, validated.
func (r *request) idempotencyKey() (string, *apiError) {
	h := r.ctx.Request.Header.Peek("Idempotency-Key")
	if len(h) == 0 {
		return "", nil
	}
	if len(h) > 128 || !printableASCII(h) {
		return "", invalidField("Idempotency-Key", "header Idempotency-Key must be 1 to 128 printable ASCII characters")
	}
	return string(h), nil
}

// fingerprint identifies a write for the idempotency table: method, path,
// query and the canonical encoding of the decoded body.
func (r *request) fingerprint(body requestBody) []byte {
	h := sha256.New()
	h.Write(r.ctx.Method())
	h.Write([]byte{0})
	h.Write(r.ctx.Path())
	h.Write([]byte{0})
	h.Write(r.ctx.URI().QueryString())
	h.Write([]byte{0})
	r.scratch = body.canonical(r.scratch[:0])
	h.Write(r.scratch)
	return h.Sum(nil)[:16]
}

// propose stamps cmd with the account, the leader's time, a request id and
// the idempotency key, replicates it, and sets X-Index (and
// Idempotent-Replayed) on the response. It returns false when it has
// answered an error.
func (r *request) propose(cmd fsm.Command, body requestBody) (fsm.Result, bool) {
	key, aerr := r.idempotencyKey()
	if aerr != nil {
		r.fail(aerr)
		return fsm.Result{}, false
	}
	h := cmd.Head()
	h.Account = r.account
	h.Time = fsm.MillisOf(time.Now())
	h.RequestID = r.requestID()
	if key != "" {
		h.IdempotencyKey = key
		h.Fingerprint = r.fingerprint(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.s.cfg.ApplyTimeout)
	res, index, err := r.s.backend.Propose(ctx, cmd)
	cancel()
	if err != nil {
		r.fail(err)
		return res, false
	}
	if res.Replayed {
		r.ctx.Response.Header.Set("Idempotent-Replayed", "true")
		index = res.Index
	}
	r.setIndex(index)
	if res.Err != nil {
		r.fail(res.Err)
		return res, false
	}
	return res, true
}

// createdOr200 is 201 for a created record, else 200.
func createdOr200(created bool) int {
	if created {
		return 201
	}
	return 200
}
