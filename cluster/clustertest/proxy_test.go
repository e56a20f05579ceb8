package clustertest_test

import (
	"bufio"
	"errors"
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

func TestProxyBlackhole(t *testing.T) {
	p, err := clustertest.NewProxy("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	open, err := dialFrom("127.0.0.2", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if !echo(open) {
		t.Fatal("the proxy does not forward")
	}

	p.SetFault("127.0.0.2", clustertest.Blackhole)
	if !p.Blocked("127.0.0.2") {
		t.Fatal("Blocked is false for a blackholed IP")
	}
	// The open connection stays open but delivers nothing; a new one is
	// accepted and delivers nothing either.
	_ = open.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := open.Write([]byte("lost\n")); err != nil {
		t.Fatalf("writing into the blackhole failed at once: %v", err)
	}
	if n, err := open.Read(make([]byte, 8)); n != 0 || !isTimeout(err) {
		t.Fatalf("read from the blackhole: %d bytes, %v; want a timeout", n, err)
	}
	fresh, err := dialFrom("127.0.0.2", p.Addr())
	if err != nil {
		t.Fatalf("a new connection into the blackhole was refused: %v", err)
	}
	defer fresh.Close()
	_ = fresh.SetDeadline(time.Now().Add(200 * time.Millisecond))
	_, _ = fresh.Write([]byte("ping\n"))
	if n, err := fresh.Read(make([]byte, 8)); n != 0 || !isTimeout(err) {
		t.Fatalf("read from a new blackholed connection: %d bytes, %v; want a timeout", n, err)
	}

	// Lifting the fault closes the blackholed connections; new ones work.
	p.Unblock("127.0.0.2")
	_ = open.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := open.Read(make([]byte, 8)); err == nil || isTimeout(err) {
		t.Fatalf("a blackholed connection outlived the fault: %v", err)
	}
	c, err := dialFrom("127.0.0.2", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !echo(c) {
		t.Fatal("the link does not work after the fault was lifted")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
