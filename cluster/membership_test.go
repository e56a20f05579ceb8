package cluster_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatstate/chatstate/cluster/clustertest"
)

func joinBody(n *clustertest.Node) string {
	return fmt.Sprintf(`{"id":%q,"raft":%q,"http":%q}`, n.ID, n.Raft, n.HTTP)
}

// wantRedirect checks a follower's answer: 307 to the same path and query
// on the leader, naming the leader in X-Leader.
func wantRedirect(t *testing.T, r reply, leader *clustertest.Node, pathAndQuery string) {
	t.Helper()
	if r.status != 307 {
		t.Fatalf("status %d %s, want 307", r.status, r)
	}
	if want := "http://" + leader.HTTP + pathAndQuery; r.header["Location"] != want {
		t.Fatalf("Location %q, want %q", r.header["Location"], want)
	}
	if r.header["X-Leader"] != leader.HTTP {
		t.Fatalf("X-Leader %q, want %q", r.header["X-Leader"], leader.HTTP)
	}
}

func indexOf(t *testing.T, r reply) uint64 {
	t.Helper()
	i, err := strconv.ParseUint(r.header["X-Index"], 10, 64)
	if err != nil {
		t.Fatalf("X-Index %q: %v (%d %s)", r.header["X-Index"], err, r.status, r)
	}
	return i
}

// TestMembershipAndRedirects drives one three-node cluster of real
// processes through what API.md promises about joining, leaving,
// followers and elections.
func TestMembershipAndRedirects(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{})
	leader := c.WaitLeader()
	followers := c.Others(leader.ID)
	f1, f2 := c.Node(followers[0]), c.Node(followers[1])

	t.Log("a follower points a joiner at the leader; joining again changes nothing")
	r := call(t, "POST", f1.URL("/v1/cluster/join"), joinBody(f2))
	wantRedirect(t, r, leader, "/v1/cluster/join")
	before, err := leader.Status()
	if err != nil {
		t.Fatal(err)
	}
	if r = call(t, "POST", r.header["Location"], joinBody(f2)); r.status != 200 {
		t.Fatalf("repeated join: %d %s", r.status, r)
	}
	if after, _ := leader.Status(); after.CommitIndex != before.CommitIndex || len(after.Voters()) != 3 {
		t.Fatalf("a repeated join changed the cluster: %+v -> %+v", before, after)
	}

	t.Log("followers redirect writes and leader/linearizable reads, serve stale reads and events")
	r = call(t, "PUT", f1.URL("/v1/accounts/acme?note=x%20y"), `{"name":"Acme"}`)
	wantRedirect(t, r, leader, "/v1/accounts/acme?note=x%20y")
	r = call(t, "PUT", r.header["Location"], `{"name":"Acme"}`)
	if r.status != 201 {
		t.Fatalf("PUT account on the leader: %d %s", r.status, r)
	}
	r = call(t, "PUT", leader.URL("/v1/accounts/acme/operators/ann"), `{"name":"Ann"}`)
	if r.status != 201 {
		t.Fatalf("PUT operator: %d %s", r.status, r)
	}
	written := indexOf(t, r)
	for _, q := range []string{"", "?consistency=leader", "?consistency=linearizable&wait=1s"} {
		wantRedirect(t, call(t, "GET", f2.URL("/v1/accounts/acme"+q), ""), leader, "/v1/accounts/acme"+q)
	}
	stale := fmt.Sprintf("/v1/accounts/acme/operators?consistency=stale&min_index=%d", written)
	for _, n := range []*clustertest.Node{f1, f2} {
		r = call(t, "GET", n.URL(stale), "")
		if r.status != 200 || !strings.Contains(string(r.body), `"id":"ann"`) || indexOf(t, r) < written {
			t.Fatalf("stale read on %s: %d %v %s", n.ID, r.status, r.header, r)
		}
	}
	if ev := firstEvent(t, f2.URL("/v1/accounts/acme/events?since=0")); !strings.Contains(ev, "event: operator.upserted") {
		t.Fatalf("the follower's event stream began with %q", ev)
	}

	t.Log("DELETE /v1/cluster/nodes/{id}: followers redirect, the leader removes")
	path := "/v1/cluster/nodes/" + f2.ID
	wantRedirect(t, call(t, "DELETE", f1.URL(path), ""), leader, path)
	if r = call(t, "DELETE", leader.URL(path), ""); r.status != 200 {
		t.Fatalf("DELETE %s: %d %s", path, r.status, r)
	}
	f2.Kill()
	c.WaitVoters(leader.ID, f1.ID)
	if r = call(t, "DELETE", leader.URL(path), ""); r.status != 200 {
		t.Fatalf("removing a removed node again: %d %s", r.status, r)
	}

	t.Log("a replacement with the same id and no data joins again, trying the --join members in turn")
	f2.Wipe()
	f2.SetJoin([]string{"127.0.0.1:1", f1.HTTP}) // the first is down; the second is a follower
	f2.Start()
	c.WaitVoters(c.IDs()...)
	waitStaleOperator(t, f2, written)
	f2.SetJoin(nil)

	t.Log("a restarted node rejoins from its own data and ignores --join")
	f1.Kill()
	f1.SetJoin([]string{"127.0.0.1:1"}) // nothing listens there
	linesBefore := len(f1.Output())
	f1.Start()
	c.WaitVoters(c.IDs()...)
	c.WaitConverged()
	for _, line := range f1.Output()[linesBefore:] {
		if strings.Contains(line, "component=join") {
			t.Fatalf("the restarted node tried to join: %s", line)
		}
	}
	f1.SetJoin(nil)

	t.Log("a node that comes back at new addresses replaces its old entry")
	f1.Stop()
	f1.ChangeAddresses()
	f1.Start()
	c.WaitVoters(c.IDs()...)
	for _, n := range c.Nodes {
		st := n.WaitStatus("new addresses of "+f1.ID, func(st clustertest.Status) bool {
			i := slices.IndexFunc(st.Nodes, func(m clustertest.Member) bool { return m.ID == f1.ID })
			return i >= 0 && st.Nodes[i].HTTP == f1.HTTP && st.Nodes[i].Raft == f1.Raft
		})
		if len(st.Nodes) != 3 {
			t.Fatalf("%s lists %+v", n.ID, st.Nodes)
		}
	}
	r = call(t, "PUT", c.WaitLeader().URL("/v1/accounts/acme/operators/bob"), `{"name":"Bob"}`)
	if r.status != 201 {
		t.Fatalf("PUT operator after the move: %d %s", r.status, r)
	}
	waitStaleOperator(t, f1, indexOf(t, r))

	t.Log("a backup restored through the leader replaces the state on every node")
	leader = c.WaitLeader()
	backup := call(t, "GET", c.Node(c.Others(leader.ID)[0]).URL("/v1/cluster/backup"), "")
	if backup.status != 200 || len(backup.body) == 0 {
		t.Fatalf("backup: %d (%d bytes)", backup.status, len(backup.body))
	}
	if r = call(t, "PUT", leader.URL("/v1/accounts/acme/operators/zed"), `{"name":"Zed"}`); r.status != 201 {
		t.Fatalf("PUT operator zed: %d %s", r.status, r)
	}
	restoreHeader := map[string]string{"Content-Type": "application/octet-stream"}
	r, err = tryCall("POST", c.Node(c.Others(leader.ID)[0]).URL("/v1/cluster/restore"), string(backup.body), restoreHeader, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, r, leader, "/v1/cluster/restore")
	if r, err = tryCall("POST", leader.URL("/v1/cluster/restore"), string(backup.body), restoreHeader, 30*time.Second); err != nil || r.status != 200 {
		t.Fatalf("restore: %v %d %s", err, r.status, r)
	}
	var restored struct{ Index uint64 }
	decode(t, r, &restored)
	for _, n := range c.Nodes {
		n.WaitApplied(restored.Index)
		r = call(t, "GET", n.URL(fmt.Sprintf("/v1/accounts/acme/operators?consistency=stale&min_index=%d", restored.Index)), "")
		if r.status != 200 || strings.Contains(string(r.body), `"zed"`) || !strings.Contains(string(r.body), `"bob"`) {
			t.Fatalf("%s after the restore: %d %s", n.ID, r.status, r)
		}
	}
	c.WaitVoters(c.IDs()...)

	t.Log("without a quorum there is no leader: 503 no_leader with Retry-After; stale reads still work")
	leader = c.WaitLeader()
	lone := leader
	for _, id := range c.Others(leader.ID) {
		c.Node(id).Kill()
	}
	lone.WaitStatus("no leader", func(st clustertest.Status) bool { return st.Leader == nil })
	for _, req := range []struct{ method, path, body string }{
		{"PUT", "/v1/accounts/acme/operators/cid", `{"name":"Cid"}`},
		{"GET", "/v1/accounts/acme", ""},
		{"GET", "/v1/accounts/acme?consistency=linearizable", ""},
	} {
		r = call(t, req.method, lone.URL(req.path), req.body)
		if r.status != 503 || r.errorCode() != "no_leader" || r.header["Retry-After"] == "" {
			t.Fatalf("%s %s without a quorum: %d %v %s", req.method, req.path, r.status, r.header, r)
		}
	}
	if r = call(t, "GET", lone.URL("/v1/accounts/acme?consistency=stale"), ""); r.status != 200 {
		t.Fatalf("stale read without a quorum: %d %s", r.status, r)
	}
	for _, id := range c.Others(lone.ID) {
		c.Node(id).Start()
	}
	c.WaitVoters(c.IDs()...)

	t.Log("the leader removes itself: it steps down and the others go on")
	leader = c.WaitLeader()
	path = "/v1/cluster/nodes/" + leader.ID
	if r = call(t, "DELETE", leader.URL(path), ""); r.status != 200 {
		t.Fatalf("DELETE %s on itself: %d %s", path, r.status, r)
	}
	leader.Kill()
	c.WaitVoters(c.Others(leader.ID)...)
	next := c.WaitLeader()
	if r = call(t, "PUT", next.URL("/v1/accounts/acme/operators/dee"), `{"name":"Dee"}`); r.status != 201 {
		t.Fatalf("PUT operator after the leader left: %d %s", r.status, r)
	}
	leader.Wipe()
	leader.Start()
	c.WaitVoters(c.IDs()...)
	waitStaleOperator(t, leader, indexOf(t, r))
}

// waitStaleOperator waits until n serves a stale read at index or later
// that lists operator ann.
func waitStaleOperator(t *testing.T, n *clustertest.Node, index uint64) {
	t.Helper()
	n.WaitApplied(index)
	r := call(t, "GET", n.URL(fmt.Sprintf("/v1/accounts/acme/operators?consistency=stale&min_index=%d", index)), "")
	if r.status != 200 || !strings.Contains(string(r.body), `"id":"ann"`) {
		t.Fatalf("stale read on %s: %d %s", n.ID, r.status, r)
	}
}

// firstEvent reads an event stream up to the end of its first event
// (past retry: and comment lines).
func firstEvent(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	var ev strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "" && strings.Contains(ev.String(), "event: ") {
			return ev.String()
		}
		if !strings.HasPrefix(sc.Text(), ":") && !strings.HasPrefix(sc.Text(), "retry:") {
			ev.WriteString(sc.Text() + "\n")
		}
	}
	t.Fatalf("GET %s: the stream ended before an event (%v)", url, sc.Err())
	return ""
}
