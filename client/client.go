package client

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Consistency is a read's consistency level (API.md, "Leader and
// consistency").
type Consistency string

const (
	// ConsistencyDefault sends no consistency parameter: the server's
	// default, which is leader.
	ConsistencyDefault Consistency = ""
	// ConsistencyLeader reads from the leader's memory; a follower
	// redirects.
	ConsistencyLeader Consistency = "leader"
	// ConsistencyLinearizable makes the leader confirm its leadership with
	// a quorum and catch up with everything committed before it answers.
	ConsistencyLinearizable Consistency = "linearizable"
	// ConsistencyStale lets any node answer from its own memory at once.
	// Pair it with MinIndex to read one's own writes.
	ConsistencyStale Consistency = "stale"
)

// maxServerWait is the longest ?wait= the API accepts; it bounds how long a
// read may legitimately take on the server.
const maxServerWait = 60 * time.Second

// Config says how a Client reaches the cluster. Start from DefaultConfig;
// New fills zero fields from it.
type Config struct {
	// Addrs are the HTTP addresses (host:port) of the cluster's nodes. Any
	// subset works: the client follows redirects to the leader and learns
	// addresses it was not given.
	Addrs []string
	// Token is sent as "Authorization: Bearer <Token>" when not empty.
	Token string
	// Encoding is the wire format of bodies (JSON or MessagePack).
	Encoding Encoding
	// Consistency is the default consistency of reads; a call's
	// WithConsistency overrides it.
	Consistency Consistency

	// Timeout bounds a whole call, retries included, when its context has
	// no deadline. A context deadline always wins.
	Timeout time.Duration
	// AttemptTimeout bounds one HTTP exchange with one node, so that a
	// node that hangs is given up for the next one within the call's
	// deadline. A read's ?wait= is added to it.
	AttemptTimeout time.Duration
	// RetryBackoffMin and RetryBackoffMax bound the exponential backoff
	// between retries (with jitter); a 503's Retry-After is honoured when
	// longer.
	RetryBackoffMin time.Duration
	RetryBackoffMax time.Duration
	// MaxRedirects bounds how many redirects one attempt follows; past it
	// the call backs off and starts again (nodes in an election may point
	// at each other for a moment).
	MaxRedirects int

	// MaxConnsPerAddr bounds the connections to one node.
	MaxConnsPerAddr int
	// MaxIdleConnDuration closes idle keep-alive connections. It must stay
	// below the server's idle timeout (90 s by default), or requests meet
	// connections the server has just closed.
	MaxIdleConnDuration time.Duration
	// MaxResponseBytes bounds a buffered response body (backups stream and
	// are not bounded).
	MaxResponseBytes int

	// EventIdleTimeout is how long an event stream may stay silent before
	// the client deems the connection dead and reconnects. The server
	// sends a ping every 15 s; the default is 2.5 times that.
	EventIdleTimeout time.Duration

	// UserAgent is the User-Agent header.
	UserAgent string
	// Logger receives the client's notes on failovers and reconnections
	// (at debug and warn level). nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns settings suited to a cluster on a local network.
// Addrs must still be set.
func DefaultConfig() Config {
	return Config{
		Encoding:            JSON,
		Timeout:             10 * time.Second,
		AttemptTimeout:      5 * time.Second,
		RetryBackoffMin:     20 * time.Millisecond,
		RetryBackoffMax:     time.Second,
		MaxRedirects:        5,
		MaxConnsPerAddr:     512,
		MaxIdleConnDuration: 5 * time.Second,
		MaxResponseBytes:    64 << 20,
		EventIdleTimeout:    37500 * time.Millisecond,
		UserAgent:           "chatstate-go-client",
	}
}

func (cfg *Config) fillDefaults() {
	def := DefaultConfig()
	if cfg.Timeout == 0 {
		cfg.Timeout = def.Timeout
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = def.AttemptTimeout
	}
	if cfg.RetryBackoffMin == 0 {
		cfg.RetryBackoffMin = def.RetryBackoffMin
	}
	if cfg.RetryBackoffMax == 0 {
		cfg.RetryBackoffMax = def.RetryBackoffMax
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = def.MaxRedirects
	}
	if cfg.MaxConnsPerAddr == 0 {
		cfg.MaxConnsPerAddr = def.MaxConnsPerAddr
	}
	if cfg.MaxIdleConnDuration == 0 {
		cfg.MaxIdleConnDuration = def.MaxIdleConnDuration
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = def.MaxResponseBytes
	}
	if cfg.EventIdleTimeout == 0 {
		cfg.EventIdleTimeout = def.EventIdleTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = def.UserAgent
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
}

func (cfg *Config) validate() error {
	switch {
	case len(cfg.Addrs) == 0:
		return fmt.Errorf("%w: Addrs is empty", ErrInvalidConfig)
	case cfg.Encoding != JSON && cfg.Encoding != MessagePack:
		return fmt.Errorf("%w: unknown Encoding %d", ErrInvalidConfig, cfg.Encoding)
	case cfg.Timeout < 0 || cfg.AttemptTimeout < 0 || cfg.EventIdleTimeout < 0:
		return fmt.Errorf("%w: timeouts must be positive", ErrInvalidConfig)
	case cfg.RetryBackoffMin < 0 || cfg.RetryBackoffMax < cfg.RetryBackoffMin:
		return fmt.Errorf("%w: need 0 < RetryBackoffMin <= RetryBackoffMax", ErrInvalidConfig)
	case cfg.MaxRedirects < 0 || cfg.MaxConnsPerAddr < 0 || cfg.MaxResponseBytes < 0:
		return fmt.Errorf("%w: limits must be positive", ErrInvalidConfig)
	}
	switch cfg.Consistency {
	case ConsistencyDefault, ConsistencyLeader, ConsistencyLinearizable, ConsistencyStale:
	default:
		return fmt.Errorf("%w: unknown Consistency %q", ErrInvalidConfig, cfg.Consistency)
	}
	for _, a := range cfg.Addrs {
		if _, err := normalizeAddr(a); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
	}
	return nil
}

// normalizeAddr accepts "host:port" or "http://host:port" and returns
// host:port.
func normalizeAddr(a string) (string, error) {
	a = strings.TrimSuffix(strings.TrimPrefix(a, "http://"), "/")
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("address %q is not host:port", a)
	}
	return a, nil
}

// maxKnownNodes bounds how many addresses redirects can teach the client,
// so that a misbehaving server cannot make it open clients without end.
const maxKnownNodes = 64

// Client is a chatstate client over a cluster of nodes. It is safe for
// concurrent use; make one per process and share it.
//
// Writes go to the leader, found by following redirects and cached until
// a node says otherwise. Each write carries an Idempotency-Key, so that a
// write whose outcome is unknown (a lost connection, a leader that lost
// its leadership) is retried safely: the cluster answers a retry with the
// first outcome instead of applying it twice.
type Client struct {
	cfg Config

	mu    sync.Mutex
	nodes map[string]*node // by address; grows as redirects name new nodes
	// ring is every known node in the order learnt (Addrs first), for
	// trying one after another when the leader is unknown or gone; it is
	// replaced, never modified, so readers need no lock.
	ring atomic.Pointer[[]*node]

	// leader is the node that last acted as leader; nil when unknown.
	leader atomic.Pointer[node]
	// next rotates the choice of node when no leader is known.
	next atomic.Uint32

	closed    atomic.Bool
	done      chan struct{} // closed by Close: ends subscriptions
	closeOnce sync.Once

	authHeader string
	// responses are reused by calls whose answer is read whole.
	responses responsePool
}

// node is one server: a HostClient for ordinary requests and one, without
// a read timeout, for streamed answers (events, backups).
type node struct {
	addr   string
	hc     *fasthttp.HostClient
	stream *fasthttp.HostClient
}

// keptResponses is how many finished responses, with their body buffers,
// a Client keeps for reuse: enough for the concurrency of a busy program's
// reads.
const keptResponses = 128

// New returns a Client for the cluster at cfg.Addrs. It does not connect
// until the first call.
func New(cfg Config) (*Client, error) {
	cfg.fillDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Client{
		cfg:       cfg,
		nodes:     make(map[string]*node),
		done:      make(chan struct{}),
		responses: newResponsePool(keptResponses),
	}
	if cfg.Token != "" {
		c.authHeader = "Bearer " + cfg.Token
	}
	var ring []*node
	for _, a := range cfg.Addrs {
		addr, _ := normalizeAddr(a)
		if _, dup := c.nodes[addr]; dup {
			continue
		}
		n := c.newNode(addr)
		c.nodes[addr] = n
		ring = append(ring, n)
	}
	c.ring.Store(&ring)
	return c, nil
}

// Close closes idle connections and ends the subscriptions. Calls made
// after it fail with ErrClosed; calls in flight finish.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.done)
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, n := range c.nodes {
			n.hc.CloseIdleConnections()
			n.stream.CloseIdleConnections()
		}
	})
	return nil
}

// Addrs returns the addresses the client knows: those it was given, then
// those redirects named since.
func (c *Client) Addrs() []string {
	ring := *c.ring.Load()
	out := make([]string, len(ring))
	for i, n := range ring {
		out[i] = n.addr
	}
	return out
}

// Leader returns the address of the node the client believes is the
// leader, or "" when it does not know.
func (c *Client) Leader() string {
	if n := c.leader.Load(); n != nil {
		return n.addr
	}
	return ""
}

func (c *Client) newNode(addr string) *node {
	dial := func(addr string, timeout time.Duration) (net.Conn, error) {
		if timeout <= 0 || timeout > c.cfg.AttemptTimeout {
			timeout = c.cfg.AttemptTimeout
		}
		conn, err := fasthttp.DialTimeout(addr, timeout)
		if err != nil {
			return nil, &dialError{addr: addr, err: err}
		}
		return conn, nil
	}
	return &node{
		addr: addr,
		hc: &fasthttp.HostClient{
			Addr:                addr,
			Name:                c.cfg.UserAgent,
			DialTimeout:         dial,
			MaxConns:            c.cfg.MaxConnsPerAddr,
			MaxConnWaitTimeout:  c.cfg.AttemptTimeout,
			MaxIdleConnDuration: c.cfg.MaxIdleConnDuration,
			// Per-attempt deadlines come with each request; these are the
			// backstop. A read may wait up to maxServerWait on the server.
			ReadTimeout:  c.cfg.AttemptTimeout + maxServerWait,
			WriteTimeout: c.cfg.AttemptTimeout,
			// fasthttp re-sends a request on its own when a pooled
			// connection turns out to be dead. Allow that only where a
			// second delivery is harmless.
			MaxIdemponentCallAttempts: 2,
			RetryIfErr:                retryIfSafe,
			MaxResponseBodySize:       c.cfg.MaxResponseBytes,
			DisablePathNormalizing:    true,
		},
		stream: &fasthttp.HostClient{
			Addr: addr,
			Name: c.cfg.UserAgent,
			DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
				conn, err := dial(addr, timeout)
				if err != nil {
					return nil, err
				}
				return &idleConn{Conn: conn, idle: c.cfg.EventIdleTimeout}, nil
			},
			MaxConns:                  c.cfg.MaxConnsPerAddr,
			MaxConnWaitTimeout:        c.cfg.AttemptTimeout,
			MaxIdleConnDuration:       c.cfg.MaxIdleConnDuration,
			WriteTimeout:              c.cfg.AttemptTimeout,
			StreamResponseBody:        true,
			MaxIdemponentCallAttempts: 1,
			RetryIfErr:                retryIfSafe,
			DisablePathNormalizing:    true,
		},
	}
}

// retryIfSafe lets fasthttp re-send a request after a connection error
// only when a second delivery cannot change the outcome: reads, and
// writes that carry an Idempotency-Key (the cluster answers a repeat with
// the first outcome). A write without a key is never re-sent.
func retryIfSafe(req *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	if req.Header.IsGet() || req.Header.IsHead() {
		return false, true
	}
	return false, len(req.Header.Peek(headerIdempotencyKey)) > 0
}

// nodeFor returns the node at addr, making one when a redirect names an
// address the client has not seen.
func (c *Client) nodeFor(addr string) (*node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.nodes[addr]; ok {
		return n, true
	}
	if len(c.nodes) >= maxKnownNodes {
		return nil, false
	}
	n := c.newNode(addr)
	c.nodes[addr] = n
	ring := append(append([]*node(nil), *c.ring.Load()...), n)
	c.ring.Store(&ring)
	return n, true
}

// pick returns the node to try first: the leader when known, else the
// next address in turn.
func (c *Client) pick() *node {
	if n := c.leader.Load(); n != nil {
		return n
	}
	return c.rotate()
}

// rotate returns the next known node in turn.
func (c *Client) rotate() *node {
	ring := *c.ring.Load()
	return ring[int(c.next.Add(1)-1)%len(ring)]
}

// nextAfter returns a node other than failed when there is one.
func (c *Client) nextAfter(failed *node) *node {
	ring := *c.ring.Load()
	for range len(ring) {
		n := ring[int(c.next.Add(1)-1)%len(ring)]
		if n != failed {
			return n
		}
	}
	return failed
}

// forgetLeader drops n as the cached leader.
func (c *Client) forgetLeader(n *node) {
	c.leader.CompareAndSwap(n, nil)
}

func (c *Client) noteLeader(n *node) {
	if c.leader.Load() != n {
		c.leader.Store(n)
	}
}

// dialError marks a connection that could not be made: the request was
// never sent, so trying another node is always safe.
type dialError struct {
	addr string
	err  error
}

func (e *dialError) Error() string { return "dial " + e.addr + ": " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// idleConn fails a read that waits longer than idle. Streamed answers
// (events, backups) have no overall deadline, since fasthttp would apply
// it to the whole body; a peer that stops sending (a dead node, a cut
// link) is noticed this way instead: the event stream's pings arrive well
// within idle.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// SetReadDeadline is replaced by the per-read deadline; fasthttp sets none
// on these connections anyway (no request timeout, no ReadTimeout).
func (c *idleConn) SetReadDeadline(time.Time) error { return nil }
