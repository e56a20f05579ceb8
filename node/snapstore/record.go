package snapstore

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// Bucket names and the format this package writes. A change to the layout
// or to record's encoding needs a new formatVersion.
var (
	bucketStore     = []byte("store")
	bucketSnapshots = []byte("snapshots")
	bucketChunks    = []byte("chunks")
	keyFormat       = []byte("format")
	formatVersion   = []byte("1")

	// keyChunkData is the one key in a chunk's own bucket. Chunks are
	// buckets, not values of the snapshot's bucket, because BoltDB keeps
	// two to four keys per leaf and rewrites a whole leaf when a key is
	// added to it: with 1 MiB values side by side, appending one chunk
	// rewrote up to four earlier ones (measured: about 8 bytes written to
	// disk per byte of snapshot). A chunk in a bucket of its own is written
	// once; appending rewrites only a small leaf of bucket headers.
	keyChunkData = []byte("d")

	// keyChunkCRC is the other key of a chunk's bucket, in snapshots whose
	// record has ChunkCRCs: the CRC-64 (ECMA) of that chunk's data, 8 bytes
	// big-endian, written in the chunk's own transaction. It lets a reader
	// verify each chunk before handing out any of its bytes, so that a
	// restore can consume the data as it is verified instead of after a
	// pass of its own over all of it. Readers that predate it ignore it.
	keyChunkCRC = []byte("c")
)

// record is the metadata of one complete snapshot, stored as JSON under its
// id in bucketSnapshots. Its presence is what makes a snapshot visible.
type record struct {
	Meta raft.SnapshotMeta
	// Seq orders snapshots created with the same term and index, and keeps
	// their ids unique; it comes from bucketSnapshots' sequence.
	Seq uint64
	// CRC is the CRC-64 (ECMA) of the whole data, Meta.Size its length.
	CRC uint64
	// Chunks is the number of chunks, keyed 0 to Chunks-1.
	Chunks uint64
	// ChunkCRCs says that every chunk's bucket holds its own CRC-64 under
	// keyChunkCRC. Snapshots written before chunk CRCs existed lack them
	// (the field decodes as false); their data is verified in a pass of its
	// own when they are opened.
	ChunkCRCs bool
}

func encodeRecord(rec *record) ([]byte, error) {
	return json.Marshal(rec)
}

func decodeRecord(id, data []byte) (*record, error) {
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("%w: metadata of snapshot %q: %v", ErrCorrupt, id, err)
	}
	if rec.Meta.ID != string(id) {
		return nil, fmt.Errorf("%w: metadata stored under %q names snapshot %q", ErrCorrupt, id, rec.Meta.ID)
	}
	return &rec, nil
}

// supportedVersion reports whether raft can read snapshots of version v;
// List and reaping leave other versions alone, as raft.FileSnapshotStore.
func supportedVersion(v raft.SnapshotVersion) bool {
	return v >= raft.SnapshotVersionMin && v <= raft.SnapshotVersionMax
}

// newestFirst orders records as raft expects List: highest term, then
// highest index, then latest created.
func newestFirst(recs []*record) {
	slices.SortFunc(recs, func(a, b *record) int {
		if c := cmp.Compare(b.Meta.Term, a.Meta.Term); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Meta.Index, a.Meta.Index); c != 0 {
			return c
		}
		return cmp.Compare(b.Seq, a.Seq)
	})
}

// snapshotID names a snapshot like raft.FileSnapshotStore (term-index-x),
// with the store's sequence number in place of a clock reading so that two
// snapshots created in the same millisecond still get distinct ids.
func snapshotID(term, index, seq uint64) string {
	return fmt.Sprintf("%d-%d-%d", term, index, seq)
}

// chunkKey is the key of a chunk's bucket: big-endian, so that keys sort in
// write order.
func chunkKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// encodePeers fills the deprecated SnapshotMeta.Peers field the way raft's
// own snapshot stores do (MessagePack list of the voters' encoded
// addresses), so that a peer speaking raft protocol version 0 can still
// install our snapshots. Without a transport there is no peer encoding, and
// the field stays empty.
func encodePeers(configuration raft.Configuration, trans raft.Transport) ([]byte, error) {
	if trans == nil {
		return nil, nil
	}
	var peers [][]byte
	for _, server := range configuration.Servers {
		if server.Suffrage == raft.Voter {
			peers = append(peers, trans.EncodePeer(server.ID, server.Address))
		}
	}
	var buf bytes.Buffer
	handle := codec.MsgpackHandle{BasicHandle: codec.BasicHandle{TimeNotBuiltin: true}}
	if err := codec.NewEncoder(&buf, &handle).Encode(peers); err != nil {
		return nil, fmt.Errorf("encode peers: %w", err)
	}
	return buf.Bytes(), nil
}
