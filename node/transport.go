package node

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// tcpStreamLayer is the Raft transport's TCP stream layer. It differs from
// raft's own TCP layer in one way: when the node listens on a specific IP
// (not 0.0.0.0 or ::), its outgoing connections leave from that IP too.
// A peer (or a proxy in front of it) then sees which node is calling from
// the connection's source address, which lets tests cut the link between
// two nodes in one direction, and lets firewall rules name nodes by IP.
type tcpStreamLayer struct {
	listener  net.Listener
	advertise net.Addr
	// source is the listen IP when it is a specific one; nil otherwise.
	source net.IP
}

// newTCPStreamLayer listens on bindAddr. advertise, when not nil, is the
// address peers are told to dial; it must not be an unspecified IP.
func newTCPStreamLayer(bindAddr string, advertise net.Addr) (*tcpStreamLayer, error) {
	ln, err := net.Listen("tcp", bindAddr)
	if err != nil {
		return nil, err
	}
	l := &tcpStreamLayer{listener: ln, advertise: advertise}
	if l.advertise == nil {
		l.advertise = ln.Addr()
	}
	tcp, ok := l.advertise.(*net.TCPAddr)
	if !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("%s is not an address peers can dial: set an advertise address", l.advertise)
	}
	if bound, ok := ln.Addr().(*net.TCPAddr); ok && !bound.IP.IsUnspecified() {
		l.source = bound.IP
	}
	return l, nil
}

// Dial connects to a peer, from the listen IP when it is a specific one.
// A loopback listen IP cannot reach a non-loopback peer, so such a dial
// leaves from an address the system picks.
func (l *tcpStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if l.source != nil && sameScope(l.source, string(address)) {
		d.LocalAddr = &net.TCPAddr{IP: l.source}
	}
	return d.Dial("tcp", string(address))
}

// sameScope reports whether a connection from source to address can leave
// from source: both loopback or both not. A host name counts as not
// loopback unless it is "localhost".
func sameScope(source net.IP, address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	loopback := host == "localhost"
	if ip := net.ParseIP(host); ip != nil {
		loopback = ip.IsLoopback()
	}
	return loopback == source.IsLoopback()
}

// Accept waits for the next incoming connection.
func (l *tcpStreamLayer) Accept() (net.Conn, error) { return l.listener.Accept() }

// Close stops listening.
func (l *tcpStreamLayer) Close() error {
	err := l.listener.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Addr is the address peers dial: the advertise address, else the bound
// one (with the real port when the node was given port 0).
func (l *tcpStreamLayer) Addr() net.Addr { return l.advertise }
