package clustertest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
)

// Status is a node's GET /v1/status answer.
type Status struct {
	ID           string    `json:"id"`
	State        string    `json:"state"` // leader, follower, candidate or shutdown
	Leader       *Member   `json:"leader"`
	Term         uint64    `json:"term"`
	CommitIndex  uint64    `json:"commit_index"`
	AppliedIndex uint64    `json:"applied_index"`
	LastSnapshot *Snapshot `json:"last_snapshot"`
	Nodes        []Member  `json:"nodes"`
	Version      string    `json:"version"`
}

// Member is a cluster member as /v1/status lists it.
type Member struct {
	ID       string `json:"id"`
	HTTP     string `json:"http"`
	Raft     string `json:"raft"`
	Suffrage string `json:"suffrage"`
}

// Snapshot identifies a node's last snapshot.
type Snapshot struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
}

// Voters returns the ids of the voting members.
func (s Status) Voters() []string {
	var ids []string
	for _, m := range s.Nodes {
		if m.Suffrage == "voter" {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// LeaderID is the leader's id, "" when none is known.
func (s Status) LeaderID() string {
	if s.Leader == nil {
		return ""
	}
	return s.Leader.ID
}

// statusTimeout bounds one status request: a node that does not answer
// within it is treated as down for that poll.
const statusTimeout = 2 * time.Second

// fetchStatus asks the node at httpAddr for its status.
func fetchStatus(client *fasthttp.Client, httpAddr string) (Status, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + httpAddr + "/v1/status")
	if err := client.DoTimeout(req, resp, statusTimeout); err != nil {
		return Status{}, err
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return Status{}, fmt.Errorf("GET /v1/status: %d %s", resp.StatusCode(), resp.Body())
	}
	var st Status
	if err := json.Unmarshal(resp.Body(), &st); err != nil {
		return Status{}, fmt.Errorf("GET /v1/status: %w", err)
	}
	return st, nil
}
