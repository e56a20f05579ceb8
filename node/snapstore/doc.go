// Package snapstore is the node's raft.SnapshotStore: every Raft snapshot of
// the chat state lives in one BoltDB file (data/snapshots.db) instead of a
// directory of files.
//
// # Why
//
// A snapshot is what a node restarts from and what a leader streams to a
// follower that fell behind, so a torn or silently damaged snapshot loses
// acknowledged writes. The store therefore guarantees three things.
//
// Crash-safe visibility. Create opens a pending snapshot: its data goes into
// a bucket of its own, but nothing records it as a snapshot. Only Close's
// final transaction writes the metadata record that List and Open look for,
// and BoltDB commits that transaction atomically. A process that dies at
// any earlier point leaves chunks without metadata; Open (of the store)
// deletes them. There is no state in which a half-written snapshot is
// listed.
//
// Chunking. The data is cut into chunks of Config.ChunkSize bytes (1 MiB by
// default), each committed by its own short write transaction under a
// big-endian sequence number. A snapshot of any size never needs one huge
// transaction, nor more than one chunk of memory on either side. Readers
// fetch one chunk per read transaction, so an open reader never pins the
// file's memory map and never stalls a writer that has to grow the file; a
// goroutine per reader loads and verifies up to two chunks ahead of the
// consumer, so that loading overlaps with the consumer's work.
//
// Checksums. Every chunk is stored with the CRC-64 (ECMA) of its bytes, and
// the metadata records the CRC-64 of the whole data (folded from the
// chunks' CRCs, so writing costs one pass over the bytes). Open checks that
// every chunk and its CRC are there and that their sizes add up; the
// reader verifies each chunk against its CRC before it hands out any of
// its bytes, and the whole data's CRC and size at the end. A damaged
// snapshot therefore fails the restore that reads it (raft then tries an
// older snapshot, or refuses to start) instead of loading wrong state, and
// a restore starts at once instead of after a pass over the whole data: for
// a 1 GB snapshot that pass cost seconds of a node's restart. Snapshots
// written before chunks carried CRCs are verified whole by Open first, as
// hashicorp/raft's FileSnapshotStore does.
//
// # Semantics
//
// Behaviour follows raft.FileSnapshotStore: only snapshot version 1 is
// created; List returns at most Config.Retain snapshots, newest first
// (by term, then index, then creation order); after a successful Close the
// snapshots beyond the newest Config.Retain are deleted. A snapshot that
// still has an open reader is deleted when its last reader closes, not
// under that reader's feet. Close after Cancel, Cancel after Close and a
// second Close are no-ops that return nil.
//
// # Use
//
// Open the store before raft.NewRaft and pass it as the SnapshotStore;
// close it only after raft's Shutdown future has returned, since raft
// writes and reads snapshots until then:
//
//	snapshots, err := snapstore.Open(filepath.Join(dataDir, "snapshots.db"), cfg)
//	r, err := raft.NewRaft(conf, fsm, logs, stable, snapshots, trans)
//	...
//	r.Shutdown().Error()
//	snapshots.Close()
//
// # Layout
//
// Bucket "store" holds the format version. Bucket "snapshots" maps a
// snapshot id to its JSON metadata record (raft.SnapshotMeta, CRC, chunk
// count). Bucket "chunks" holds one nested bucket per snapshot id, pending
// or complete, which holds one bucket per chunk, named by its 8-byte
// big-endian sequence number. A chunk's bucket holds its data in pieces
// under keys "a" + 4-byte big-endian piece number, the data's length (8
// bytes, big-endian) under "n", and its CRC-64 (8 bytes, big-endian) under
// "c". Files of format 1 hold the whole data under "d" instead; they stay
// readable. (A bucket per chunk, rather than chunks as values side by side,
// because BoltDB rewrites a whole leaf, up to four neighbouring chunks,
// when a key is added to it; see keyChunkData. Pieces two to a page,
// rather than one value, because BoltDB writes a multi-page value from a
// buffer it allocates per commit; see pieceSize.) New files have 16 KiB
// pages. The file uses the hashmap freelist, like data/raft.db: deleted
// snapshots free large page runs that the next snapshot reuses. The
// freelist is written by every commit except a snapshot's chunks before
// its last (see Store.write), so it is not rewritten a thousand times per
// snapshot, and yet Open reads it from one page instead of walking the
// whole file, unless the last writer died mid-snapshot.
package snapstore
