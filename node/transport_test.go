package node

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestStreamLayerDialsFromListenIP checks that a node listening on a
// specific IP calls its peers from that IP, which is what lets a proxy
// tell the nodes apart.
func TestStreamLayerDialsFromListenIP(t *testing.T) {
	peer, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	accepted := make(chan net.Addr, 1)
	go func() {
		c, err := peer.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c.RemoteAddr()
		c.Close()
	}()

	tests := []struct {
		bind, wantSource string
	}{
		{"127.0.0.2:0", "127.0.0.2"},
	}
	for _, tt := range tests {
		l, err := newTCPStreamLayer(tt.bind, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if host, _, _ := net.SplitHostPort(l.Addr().String()); host != tt.wantSource {
			t.Fatalf("advertised %s, want host %s", l.Addr(), tt.wantSource)
		}
		c, err := l.Dial(raft.ServerAddress(peer.Addr().String()), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		select {
		case from := <-accepted:
			if host, _, _ := net.SplitHostPort(from.String()); host != tt.wantSource {
				t.Fatalf("the peer saw a call from %s, want %s", from, tt.wantSource)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the peer saw no connection")
		}
	}
}

func TestStreamLayerRefusesUnadvertisableAddress(t *testing.T) {
	if l, err := newTCPStreamLayer("0.0.0.0:0", nil); err == nil {
		l.Close()
		t.Fatal("listening on 0.0.0.0 without an advertise address was accepted")
	}
	adv := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 9}
	l, err := newTCPStreamLayer("0.0.0.0:0", adv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Addr().String() != adv.String() || l.source != nil {
		t.Fatalf("addr %s source %v, want %s and no fixed source", l.Addr(), l.source, adv)
	}
}

func TestSameScope(t *testing.T) {
	loop, public := net.ParseIP("127.0.0.2"), net.ParseIP("10.1.2.3")
	tests := []struct {
		source net.IP
		addr   string
		want   bool
	}{
		{loop, "127.0.0.1:9", true},
		{loop, "localhost:9", true},
		{loop, "10.0.0.1:9", false},
		{loop, "db.example:9", false},
		{public, "10.0.0.1:9", true},
		{public, "127.0.0.1:9", false},
		{public, "nonsense", false},
	}
	for _, tt := range tests {
		if got := sameScope(tt.source, tt.addr); got != tt.want {
			t.Errorf("sameScope(%s, %s) = %v, want %v", tt.source, tt.addr, got, tt.want)
		}
	}
}
