package node

import (
	"io"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatstate/chatstate/fsm"
)

// metrics are the node's Prometheus metrics. Histograms are observed as
// work happens; the Raft and BoltDB figures are read when scraped (see
// Collect), so an idle node costs nothing.
type metrics struct {
	applyDuration   prometheus.Histogram
	batchCommands   prometheus.Histogram
	batchBytes      prometheus.Histogram
	snapshotPersist prometheus.Histogram
	snapshotFailed  prometheus.Counter

	raftState    *prometheus.Desc
	raftTerm     *prometheus.Desc
	raftIndex    *prometheus.Desc
	boltTxs      *prometheus.Desc
	boltFree     *prometheus.Desc
	boltPending  *prometheus.Desc
	boltFreeSize *prometheus.Desc
	boltOpenTxs  *prometheus.Desc
}

func newMetrics() *metrics {
	const ns, sub = "chatstate", "node"
	return &metrics{
		applyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "apply_duration_seconds",
			Help:    "Time from proposing a group-commit log entry to Raft until it was committed and applied on this node.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16), // 100µs .. 3.3s
		}),
		batchCommands: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "batch_commands",
			Help:    "Commands carried by one group-commit log entry.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 .. 1024
		}),
		batchBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "batch_bytes",
			Help:    "Size of one group-commit log entry.",
			Buckets: prometheus.ExponentialBuckets(64, 4, 10), // 64 B .. 16 MiB
		}),
		snapshotPersist: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "snapshot_persist_seconds",
			Help:    "Time to write one snapshot of the state to the snapshot store.",
			Buckets: prometheus.ExponentialBuckets(1e-3, 2, 16), // 1ms .. 33s
		}),
		snapshotFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "snapshot_failures_total",
			Help: "Snapshots whose persist failed.",
		}),
		raftState: prometheus.NewDesc("chatstate_raft_state",
			"1 for this node's current Raft state, 0 for the others.", []string{"state"}, nil),
		raftTerm: prometheus.NewDesc("chatstate_raft_term", "This node's current Raft term.", nil, nil),
		raftIndex: prometheus.NewDesc("chatstate_raft_index",
			"Raft log positions on this node: last log, commit, applied, last snapshot.", []string{"kind"}, nil),
		boltTxs: prometheus.NewDesc("chatstate_boltdb_read_txs_total",
			"Read transactions started on raft.db.", nil, nil),
		boltFree: prometheus.NewDesc("chatstate_boltdb_free_pages",
			"Free pages in raft.db's freelist.", nil, nil),
		boltPending: prometheus.NewDesc("chatstate_boltdb_pending_pages",
			"Pages of raft.db waiting to be freed once read transactions end.", nil, nil),
		boltFreeSize: prometheus.NewDesc("chatstate_boltdb_free_bytes",
			"Bytes allocated in raft.db's free pages.", nil, nil),
		boltOpenTxs: prometheus.NewDesc("chatstate_boltdb_open_read_txs",
			"Read transactions open on raft.db.", nil, nil),
	}
}

// Collector returns the node's metrics for registration in a Prometheus
// registry: group-commit batch sizes and apply latency, snapshot persist
// durations, Raft state, term and indexes, and raft.db's BoltDB statistics.
func (n *Node) Collector() prometheus.Collector { return nodeCollector{n} }

type nodeCollector struct{ n *Node }

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.n.metrics
	for _, h := range []prometheus.Collector{m.applyDuration, m.batchCommands, m.batchBytes, m.snapshotPersist, m.snapshotFailed} {
		h.Collect(ch)
	}

	state := c.n.raft.State()
	for _, s := range []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown} {
		v := 0.0
		if s == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.raftState, prometheus.GaugeValue, v, stateName(s))
	}
	stats := c.n.raft.Stats()
	gaugeFromStat := func(desc *prometheus.Desc, key string, labels ...string) {
		if v, err := strconv.ParseUint(stats[key], 10, 64); err == nil {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(v), labels...)
		}
	}
	gaugeFromStat(m.raftTerm, "term")
	gaugeFromStat(m.raftIndex, "last_log_index", "last_log")
	gaugeFromStat(m.raftIndex, "commit_index", "commit")
	gaugeFromStat(m.raftIndex, "last_snapshot_index", "last_snapshot")
	ch <- prometheus.MustNewConstMetric(m.raftIndex, prometheus.GaugeValue, float64(c.n.fsm.AppliedIndex()), "applied")

	bs := c.n.boltStore.Stats()
	ch <- prometheus.MustNewConstMetric(m.boltTxs, prometheus.CounterValue, float64(bs.TxN))
	ch <- prometheus.MustNewConstMetric(m.boltFree, prometheus.GaugeValue, float64(bs.FreePageN))
	ch <- prometheus.MustNewConstMetric(m.boltPending, prometheus.GaugeValue, float64(bs.PendingPageN))
	ch <- prometheus.MustNewConstMetric(m.boltFreeSize, prometheus.GaugeValue, float64(bs.FreeAlloc))
	ch <- prometheus.MustNewConstMetric(m.boltOpenTxs, prometheus.GaugeValue, float64(bs.OpenTxN))
}

func stateName(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return "leader"
	case raft.Candidate:
		return "candidate"
	case raft.Shutdown:
		return "shutdown"
	default:
		return "follower"
	}
}

// timedFSM is the state machine as Raft sees it: the same, except that
// snapshot persists are timed and restores may run with a relaxed garbage
// collector (Config.RestoreGCPercent).
type timedFSM struct {
	*fsm.FSM
	metrics *metrics
	gc      *gcRelaxer
}

func (t timedFSM) Restore(rc io.ReadCloser) error {
	t.gc.hold()
	defer t.gc.release()
	return t.FSM.Restore(rc)
}

// gcRelaxer sets the garbage collector's target (debug.SetGCPercent) to
// percent while anything holds it, and back to what it was when the last
// holder releases it: a restore, and the start of a node that replays its
// log after one, may overlap. With percent <= 0 it does nothing.
type gcRelaxer struct {
	percent int
	mu      sync.Mutex
	holds   int
	prev    int
}

func (g *gcRelaxer) hold() {
	if g.percent <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holds == 0 {
		g.prev = debug.SetGCPercent(g.percent)
	}
	g.holds++
}

func (g *gcRelaxer) release() {
	if g.percent <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holds--; g.holds == 0 {
		debug.SetGCPercent(g.prev)
	}
}

func (t timedFSM) Snapshot() (raft.FSMSnapshot, error) {
	s, err := t.FSM.Snapshot()
	if err != nil {
		return nil, err
	}
	return timedSnapshot{FSMSnapshot: s, metrics: t.metrics}, nil
}

type timedSnapshot struct {
	raft.FSMSnapshot
	metrics *metrics
}

func (t timedSnapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	err := t.FSMSnapshot.Persist(sink)
	if err != nil {
		t.metrics.snapshotFailed.Inc()
		return err
	}
	t.metrics.snapshotPersist.Observe(time.Since(start).Seconds())
	return nil
}
