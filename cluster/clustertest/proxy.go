package clustertest

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Proxy is a TCP proxy that forwards connections to a target address and
// can refuse them by the caller's IP: the fault injector in front of a
// node's Raft listener. Since every node calls its peers from its own
// loopback IP, blocking an IP cuts the link from that node to the proxy's
// node, in that direction only. Its methods are safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	blocked map[string]bool         // caller IPs refused
	conns   map[*proxyConn]struct{} // open pairs, for cutting them
	closed  bool
	wg      sync.WaitGroup
}

type proxyConn struct {
	sourceIP   string
	client, up net.Conn
}

func (c *proxyConn) close() {
	c.client.Close()
	c.up.Close()
}

// NewProxy listens on listen (host:port, port 0 picks one) and forwards
// every accepted connection to target.
func NewProxy(listen, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, blocked: map[string]bool{}, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Block refuses connections from sourceIP from now on and cuts those open:
// the peer sees its calls fail at once, as when a host's port is closed.
func (p *Proxy) Block(sourceIP string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked[sourceIP] = true
	for c := range p.conns {
		if c.sourceIP == sourceIP {
			c.close()
		}
	}
}

// Unblock lets sourceIP connect again.
func (p *Proxy) Unblock(sourceIP string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.blocked, sourceIP)
}

// UnblockAll lets every caller connect again.
func (p *Proxy) UnblockAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.blocked)
}

// Blocked reports whether sourceIP is refused.
func (p *Proxy) Blocked(sourceIP string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blocked[sourceIP]
}

// Close stops listening, cuts every connection and waits for the proxy's
// goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	source, _, _ := net.SplitHostPort(client.RemoteAddr().String())
	if p.Blocked(source) {
		client.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	c := &proxyConn{sourceIP: source, client: client, up: up}
	p.mu.Lock()
	if p.closed || p.blocked[source] { // blocked while dialing
		p.mu.Unlock()
		c.close()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, client)
	go pipe(client, up)
	<-done // one direction ended: end both
	c.close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}
