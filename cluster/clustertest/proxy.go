package clustertest

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Fault is how a Proxy treats the connections of a caller it cuts off.
type Fault int

const (
	// Refuse closes the caller's connections and refuses new ones: its
	// calls fail at once, as when the host's port is closed.
	Refuse Fault = iota + 1
	// Blackhole keeps the caller's connections open but delivers nothing,
	// either way, and accepts new ones that go nowhere: its calls hang
	// until they time out, as when the network silently loses packets.
	// When the fault is lifted those connections are closed (they have
	// lost bytes), and new ones work.
	Blackhole
)

func (f Fault) String() string {
	switch f {
	case Refuse:
		return "refuse"
	case Blackhole:
		return "blackhole"
	}
	return "no fault"
}

// Proxy is a TCP proxy that forwards connections to a target address and
// can cut them off by the caller's IP: the fault injector in front of a
// node's Raft listener. Since every node calls its peers from its own
// loopback IP, cutting an IP off cuts the link from that node to the
// proxy's node, in that direction only. Its methods are safe for
// concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	faults map[string]Fault        // by caller IP
	conns  map[*proxyConn]struct{} // open pairs, for cutting them
	closed bool
	wg     sync.WaitGroup
}

type proxyConn struct {
	sourceIP   string
	client, up net.Conn // up is nil for a connection accepted into a blackhole
}

func (c *proxyConn) close() {
	c.client.Close()
	if c.up != nil {
		c.up.Close()
	}
}

// NewProxy listens on listen (host:port, port 0 picks one) and forwards
// every accepted connection to target.
func NewProxy(listen, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, faults: map[string]Fault{}, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Block refuses sourceIP from now on and closes its open connections
// (Fault Refuse).
func (p *Proxy) Block(sourceIP string) { p.SetFault(sourceIP, Refuse) }

// SetFault cuts sourceIP off with fault f from now on, open connections
// included.
func (p *Proxy) SetFault(sourceIP string, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[sourceIP] = f
	if f == Refuse {
		for c := range p.conns {
			if c.sourceIP == sourceIP {
				c.close()
			}
		}
	}
}

// Unblock lets sourceIP connect again. Connections held in a blackhole
// are closed.
func (p *Proxy) Unblock(sourceIP string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lift(sourceIP)
}

// UnblockAll lifts every fault.
func (p *Proxy) UnblockAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ip := range p.faults {
		p.lift(ip)
	}
}

func (p *Proxy) lift(sourceIP string) {
	if p.faults[sourceIP] == Blackhole {
		for c := range p.conns {
			if c.sourceIP == sourceIP {
				c.close()
			}
		}
	}
	delete(p.faults, sourceIP)
}

// Blocked reports whether sourceIP is cut off, in any way.
func (p *Proxy) Blocked(sourceIP string) bool { return p.fault(sourceIP) != 0 }

func (p *Proxy) fault(sourceIP string) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults[sourceIP]
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

// track registers c; false when the proxy closed meanwhile or the caller
// was refused (c is then closed).
func (p *Proxy) track(c *proxyConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.faults[c.sourceIP] == Refuse {
		c.close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c *proxyConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	source, _, _ := net.SplitHostPort(client.RemoteAddr().String())
	switch p.fault(source) {
	case Refuse:
		client.Close()
		return
	case Blackhole:
		c := &proxyConn{sourceIP: source, client: client}
		if p.track(c) {
			_, _ = io.Copy(io.Discard, client) // until lifted or closed
			c.close()
			p.untrack(c)
		}
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	c := &proxyConn{sourceIP: source, client: client, up: up}
	if !p.track(c) {
		return
	}
	done := make(chan struct{}, 2)
	go p.pipe(c, up, client, done)
	go p.pipe(c, client, up, done)
	<-done // one direction ended: end both
	c.close()
	<-done
	p.untrack(c)
}

// pipe copies src to dst, dropping what arrives while the caller is in a
// blackhole.
func (p *Proxy) pipe(c *proxyConn, dst, src net.Conn, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.fault(c.sourceIP) != Blackhole {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
