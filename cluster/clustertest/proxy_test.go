package clustertest_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/chatstate/chatstate/cluster/clustertest"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dialFrom connects to addr from sourceIP.
func dialFrom(sourceIP, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(sourceIP)}}
	return d.Dial("tcp", addr)
}

// echo sends a line and reports whether it came back.
func echo(c net.Conn) bool {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "ping\n"
}

func TestProxyBlocksByCallerIP(t *testing.T) {
	p, err := clustertest.NewProxy("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	fromA, err := dialFrom("127.0.0.2", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer fromA.Close()
	fromB, err := dialFrom("127.0.0.3", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer fromB.Close()
	if !echo(fromA) || !echo(fromB) {
		t.Fatal("the proxy does not forward")
	}

	p.Block("127.0.0.2")
	if echo(fromA) {
		t.Fatal("an open connection from a blocked IP still works")
	}
	if !echo(fromB) {
		t.Fatal("blocking one IP cut another's connection")
	}
	if c, err := dialFrom("127.0.0.2", p.Addr()); err == nil {
		ok := echo(c)
		c.Close()
		if ok {
			t.Fatal("a new connection from a blocked IP works")
		}
	}

	p.Unblock("127.0.0.2")
	c, err := dialFrom("127.0.0.2", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !echo(c) {
		t.Fatal("an unblocked IP cannot connect")
	}
}
