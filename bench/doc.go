// Package bench is chatbench, chatstate's latency and throughput
// benchmark, as a library; the command is bench/cmd/chatbench, and `make
// bench` / `make bench-quick` run it.
//
// A run starts one or three chatstated processes on loopback (or targets
// an existing cluster), loads the standard dataset of fsm/dataset through
// the HTTP API with many concurrent clients, and measures:
//
//   - W1: sequential customer messages (~200 bytes), one client;
//   - W2: the same at 16, 64 and 256 concurrent clients;
//   - R1: filtered list pages of 50 chats at 1, 16 and 64 readers, a
//     uniform mix of five filters (ListFilterKinds);
//   - M1: an operators' day (OperatorsDay): conversations walked through
//     their life by writes, with list and count reads at about nine per
//     write, in a closed loop and in an open loop at a fixed arrival rate.
//
// Beside them, in the same run and on the same filesystem, it measures two
// baselines that say how much of a write's cost is chatstate's own: the
// fsync floor (FsyncFloor: 64-byte appends, each followed by fdatasync)
// and bare hashicorp/raft (BareRaft: Apply of a no-op with chatstated's
// stores and cluster size, one log entry per call) at the write
// workloads' concurrencies.
//
// # Measuring honestly
//
// Every phase runs a warmup before its measured window. Latencies go into
// one HdrHistogram per worker (Recorder), merged at the end of the phase:
// no sampling, no averaging of percentiles, and no lock on the hot path.
// A closed loop (RunClosed) measures each operation from its start to its
// end. An open loop (RunOpen) issues operations on a fixed schedule
// (Schedule) and measures each from when it was due, so a stall counts as
// the queue it builds rather than as one slow operation: the
// coordinated-omission correction. Failed operations are counted apart and
// never enter a histogram.
//
// All calls go through the project's client (fasthttp HostClient, one
// connection per concurrent request), never a pipelining client, whose
// head-of-line blocking would distort the figures.
//
// # Output
//
// A progress line on stderr while phases run; a table on stdout with each
// write figure's ratio to its baseline and the targets (Report.Evaluate);
// results.json (Report) and report.html, a single self-contained page of
// tables and inline SVG charts (percentile spectra on a log axis,
// throughput against concurrency) that opens offline.
//
// bench imports client, fsm and fsm/dataset only: it sees chatstate as its
// users do, through the API (see the layering test at the module root).
package bench
