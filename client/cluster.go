package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
)

// Status returns GET /v1/status of one node: the leader when the client
// knows it, else any; use OnNode to ask a given node.
func (c *Client) Status(ctx context.Context, opts ...Option) (*NodeStatus, error) {
	out := new(NodeStatus)
	err := c.do(ctx, &call{op: "Status", method: http.MethodGet, path: "/v1/status", anyNode: true, out: out}, opts)
	return result(out, err)
}

// Discover asks a node for the cluster's membership (GET /v1/status) and
// adds every member's HTTP address to the addresses the client tries, so
// that a client given one address can fail over to all. It returns the
// addresses known afterwards. Call it after New, and again after the
// membership changes; redirects teach the client the leader's address
// on their own.
func (c *Client) Discover(ctx context.Context, opts ...Option) ([]string, error) {
	st, err := c.Status(ctx, opts...)
	if err != nil {
		return nil, err
	}
	for _, n := range st.Nodes {
		addr, err := normalizeAddr(n.HTTP)
		if err != nil {
			continue // a member that has no usable HTTP address yet
		}
		if _, ok := c.nodeFor(addr); !ok {
			break
		}
	}
	return c.Addrs(), nil
}

// Health asks node addr (host:port) whether its process serves
// (GET /healthz). It makes a single attempt.
func (c *Client) Health(ctx context.Context, addr string) error {
	return c.do(ctx, &call{op: "Health", method: http.MethodGet, path: "/healthz", anyNode: true, once: true},
		[]Option{OnNode(addr)})
}

// Ready asks node addr whether it knows a leader and has caught up
// (GET /readyz). A node that is not ready answers an *Error with status
// 503 whose Message holds the server's reasons.
func (c *Client) Ready(ctx context.Context, addr string) error {
	return c.do(ctx, &call{op: "Ready", method: http.MethodGet, path: "/readyz", anyNode: true, once: true},
		[]Option{OnNode(addr)})
}

// JoinCluster adds a node to the cluster as a voter and returns the
// membership once it is one. Joining again with the same id and addresses
// is a no-op.
func (c *Client) JoinCluster(ctx context.Context, r JoinRequest, opts ...Option) ([]NodeAddr, error) {
	var out membershipBody
	err := c.do(ctx, &call{op: "JoinCluster", method: http.MethodPost, path: "/v1/cluster/join", write: true, long: true, body: r, out: &out}, opts)
	return out.Nodes, err
}

// RemoveNode removes node id from the cluster and returns the membership
// once it is gone.
func (c *Client) RemoveNode(ctx context.Context, id string, opts ...Option) ([]NodeAddr, error) {
	if id == "" {
		return nil, &Error{Status: 400, Code: "invalid_field", Field: "node_id", Message: "node id is empty"}
	}
	var out membershipBody
	err := c.do(ctx, &call{op: "RemoveNode", method: http.MethodDelete, path: "/v1/cluster/nodes/" + url.PathEscape(id), write: true, long: true, out: &out}, opts)
	return out.Nodes, err
}

// Snapshot makes the leader take a snapshot now and returns its log index.
func (c *Client) Snapshot(ctx context.Context, opts ...Option) (uint64, error) {
	var out snapshotIndexBody
	err := c.do(ctx, &call{op: "Snapshot", method: http.MethodPost, path: "/v1/cluster/snapshot", write: true, long: true, out: &out}, opts)
	return out.Index, err
}

// Backup downloads a consistent snapshot of the whole state into w and
// returns the number of bytes written. The download is streamed; it may
// take as long as ctx allows (Config.Timeout when ctx has no deadline).
func (c *Client) Backup(ctx context.Context, w io.Writer, opts ...Option) (int64, error) {
	var n int64
	err := c.do(ctx, &call{op: "Backup", method: http.MethodGet, path: "/v1/cluster/backup", anyNode: true, long: true,
		stream: func(resp *fasthttp.Response) error {
			var err error
			n, err = copyStream(ctx, w, resp)
			return err
		}}, opts)
	return n, err
}

// Restore replaces the whole cluster's state with a backup read from r and
// returns the log index at which it was applied. The body is streamed to
// the leader, found first with Status, so it is sent once: if leadership
// moves meanwhile, Restore fails and must be called again with the backup
// from the start. A body that is not a backup is refused (ErrBadRequest)
// and changes nothing.
func (c *Client) Restore(ctx context.Context, r io.Reader) (uint64, error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	st, err := c.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("chatstate client: Restore: finding the leader: %w", err)
	}
	if st.Leader == nil || st.Leader.HTTP == "" {
		return 0, fmt.Errorf("chatstate client: Restore: %w", ErrNoLeader)
	}
	addr, err := normalizeAddr(st.Leader.HTTP)
	if err != nil {
		return 0, fmt.Errorf("chatstate client: Restore: the leader's address: %w", err)
	}
	// A client of its own: the upload and the restore that follows take
	// as long as the state's size makes them, bounded only by ctx, and the
	// body, a stream, must never be re-sent.
	hc := &fasthttp.HostClient{
		Addr:                      addr,
		Name:                      c.cfg.UserAgent,
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		DisablePathNormalizing:    true,
		MaxResponseBodySize:       1 << 20,
	}
	defer hc.CloseIdleConnections()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(http.MethodPost)
	req.SetRequestURI("/v1/cluster/restore")
	req.Header.SetHost(addr)
	req.Header.SetContentType("application/octet-stream")
	req.Header.Set(fasthttp.HeaderAccept, c.cfg.Encoding.contentType())
	if c.authHeader != "" {
		req.Header.Set(fasthttp.HeaderAuthorization, c.authHeader)
	}
	req.SetBodyStream(r, -1)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.cfg.Timeout)
	}
	if err := hc.DoDeadline(req, resp, deadline); err != nil {
		return 0, fmt.Errorf("chatstate client: Restore: %s: %w", addr, err)
	}
	if s := resp.StatusCode(); s < 200 || s >= 300 {
		return 0, decodeError(resp)
	}
	var out snapshotIndexBody
	if err := decodeBody(resp.Header.ContentType(), resp.Body(), &out); err != nil {
		return 0, fmt.Errorf("chatstate client: Restore: %w: %v", ErrUnexpectedResponse, err)
	}
	return out.Index, nil
}

// copyStream copies a streamed body to w, stopping when ctx ends.
func copyStream(ctx context.Context, w io.Writer, resp *fasthttp.Response) (int64, error) {
	body, ok := resp.BodyStream().(fasthttp.ReadCloserWithError)
	if !ok || body == nil {
		return io.Copy(w, bytes.NewReader(resp.Body()))
	}
	stop := context.AfterFunc(ctx, func() { _ = body.CloseWithError(ctx.Err()) })
	defer stop()
	n, err := io.Copy(w, body)
	if err != nil && ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	return n, err
}
