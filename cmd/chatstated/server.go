package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chatstate/chatstate/cluster"
	"github.com/chatstate/chatstate/httpapi"
	"github.com/chatstate/chatstate/node"
)

// server is one running chatstated: a node and its HTTP API.
type server struct {
	opts   options
	logger *slog.Logger
	ln     net.Listener
	node   *node.Node
	api    *httpapi.Server
	served chan error   // Serve's result
	pprof  *http.Server // nil unless --pprof
}

// start opens the node and serves the HTTP API. When the node has never
// been part of a cluster and join addresses were given, it asks them to add
// it, in the background.
func start(ctx context.Context, opts options, logger *slog.Logger) (*server, error) {
	ln, err := net.Listen("tcp", opts.HTTP)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", opts.HTTP, err)
	}
	advertiseHTTP := opts.AdvertiseHTTP
	if advertiseHTTP == opts.HTTP {
		advertiseHTTP = ln.Addr().String() // resolves port 0
	}

	ncfg := node.DefaultConfig()
	ncfg.ID = opts.ID
	ncfg.Dir = opts.Data
	ncfg.RaftAddr = opts.Raft
	if opts.AdvertiseRaft != opts.Raft {
		ncfg.RaftAdvertise = opts.AdvertiseRaft
	}
	ncfg.HTTPAddr = advertiseHTTP
	ncfg.Bootstrap = len(opts.Join) == 0
	// chatstated owns its process, so it may relax the collector while a
	// snapshot restores (see node.Config.RestoreGCPercent).
	ncfg.RestoreGCPercent = 400
	ncfg.HeapHugePages = opts.HeapHugePages
	// Zero values keep node's defaults.
	rt := opts.RaftTuning
	ncfg.HeartbeatTimeout = rt.HeartbeatTimeout
	ncfg.ElectionTimeout = rt.ElectionTimeout
	ncfg.LeaderLeaseTimeout = rt.LeaderLeaseTimeout
	ncfg.CommitTimeout = rt.CommitTimeout
	ncfg.SnapshotInterval = rt.SnapshotInterval
	ncfg.SnapshotThreshold = rt.SnapshotThreshold
	ncfg.TrailingLogs = rt.TrailingLogs
	if rt.SnapshotCPUShare > 0 {
		ncfg.FSM.PersistShare = rt.SnapshotCPUShare
	}
	ncfg.Logger = logger.With("component", "node")
	n, err := node.Open(ncfg)
	if err != nil {
		ln.Close()
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), n.Collector())
	acfg := httpapi.DefaultConfig()
	acfg.AdminToken = opts.AdminToken
	acfg.Logger = logger.With("component", "http")
	acfg.Registry = reg
	api, err := httpapi.New(acfg, backend{n})
	if err != nil {
		ln.Close()
		n.Close()
		return nil, err
	}
	s := &server{opts: opts, logger: logger, ln: ln, node: n, api: api, served: make(chan error, 1)}
	if opts.Pprof != "" {
		pln, err := net.Listen("tcp", opts.Pprof)
		if err != nil {
			ln.Close()
			n.Close()
			return nil, fmt.Errorf("listen --pprof %s: %w", opts.Pprof, err)
		}
		s.pprof = servePprof(pln, logger)
	}
	go func() { s.served <- api.Serve(ln) }()
	logger.Info("serving", "id", opts.ID, "http", advertiseHTTP, "raft", n.RaftAddr(), "data", opts.Data)

	if len(opts.Join) > 0 && s.needsJoin(advertiseHTTP) {
		go s.join(ctx, advertiseHTTP)
	}
	return s, nil
}

// needsJoin reports whether this node must ask the cluster to add it: it
// is not in the cluster's configuration (a new node), or it is but under
// other addresses (it restarted on its data at a new address, and the
// leader must replace its entry). A node that restarts where it was
// rejoins from its own data and ignores --join.
func (s *server) needsJoin(advertiseHTTP string) bool {
	for _, m := range s.node.Status().Nodes {
		if m.ID == s.opts.ID {
			moved := m.Raft != s.node.RaftAddr() || (m.HTTP != "" && m.HTTP != advertiseHTTP)
			if moved {
				s.logger.Info("this node's address changed; asking the cluster to update it",
					"recorded_raft", m.Raft, "raft", s.node.RaftAddr(), "recorded_http", m.HTTP, "http", advertiseHTTP)
			}
			return moved
		}
	}
	return true
}

func (s *server) join(ctx context.Context, advertiseHTTP string) {
	jcfg := cluster.DefaultJoinConfig()
	jcfg.Members = s.opts.Join
	jcfg.AdminToken = s.opts.AdminToken
	jcfg.Logger = s.logger.With("component", "join")
	req := cluster.JoinRequest{ID: s.opts.ID, Raft: s.node.RaftAddr(), HTTP: advertiseHTTP}
	if err := cluster.Join(ctx, jcfg, req); err != nil && ctx.Err() == nil {
		s.logger.Error("could not join the cluster", "members", s.opts.Join, "err", err)
	}
}

// Addr is the address the HTTP API listens on.
func (s *server) Addr() string { return s.ln.Addr().String() }

// wait blocks until ctx ends (a signal) or the HTTP server fails.
func (s *server) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.served:
		return fmt.Errorf("http server: %w", err)
	}
}

// shutdown stops accepting requests, finishes those in flight, hands
// leadership to another voter when leader, and closes the stores, all
// within timeout.
func (s *server) shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	apiErr := s.api.Shutdown(ctx)
	if s.pprof != nil {
		s.pprof.Close()
	}
	nodeErr := s.node.Close()
	s.logger.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	return errors.Join(apiErr, nodeErr)
}
