package snapstore

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// Bucket names and the format this package writes. A change to the layout
// or to record's encoding needs a new formatVersion.
var (
	bucketStore     = []byte("store")
	bucketSnapshots = []byte("snapshots")
	bucketChunks    = []byte("chunks")
	keyFormat       = []byte("format")
	formatVersion   = []byte("2")

	// readableFormats are the formats Open accepts. A format-1 file (chunk
	// data as one value, keyChunkData) is marked format 2 when opened, as
	// the store will add chunks in pieces to it; a build that predates
	// pieces then refuses the file instead of reading pieced chunks as
	// missing.
	readableFormats = [][]byte{[]byte("1"), formatVersion}

	// keyChunkData holds a chunk's whole data in files of format 1. Chunks
	// are buckets, not values of the snapshot's bucket, because BoltDB
	// keeps two to four keys per leaf and rewrites a whole leaf when a key
	// is added to it: with 1 MiB values side by side, appending one chunk
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

	// keyChunkSize holds the length of a pieced chunk's data, 8 bytes
	// big-endian, so that Open checks sizes without reading the pieces.
	keyChunkSize = []byte("n")
)

// A chunk's data is stored in pieces of at most pieceSize(page size)
// bytes, under pieceKey(0), pieceKey(1)..., in the chunk's bucket.
//
// Why: BoltDB writes a node that spans several pages from a buffer it
// allocates for that commit (for a 1 MiB value, a fresh 1 MiB buffer), and
// a node of one page from a pool it reuses. One value per chunk made every
// byte of a snapshot a byte of garbage, in fresh memory that the kernel
// faults in: the largest cost of persisting a 1,000,000-chat snapshot,
// and, through the collections it brought on and the cores it held, of
// the write latency beside it. BoltDB splits a leaf at half a page but
// never below two keys, and leaves the last three or four keys of a node
// together: two pieces fill a page, and the last leaf holds at most two
// pieces and the chunk's small values (its CRC and size, which sort after
// the pieces), so every leaf of a chunk is one page.
//
// New files get pages of snapshotPageSize: a 1 MiB chunk is then 65
// values (each costs a B-tree insert and a key copy) and each commit
// writes one 16 KiB meta page, about 3% of the chunk in garbage in all.
// Files created with the OS page size keep it, with smaller pieces.
const (
	snapshotPageSize = 16 << 10
	pieceKeyLen      = 5
	pieceKeyHead     = 'a' // sorts before keyChunkCRC and keyChunkSize
	// bbolt's page header and leaf element header, in bytes, and room for
	// the chunk's CRC and size beside two pieces.
	boltPageHeader = 16
	boltLeafHeader = 16
	smallValues    = 2 * (boltLeafHeader + 1 + 8)
)

// pieceSize returns the size of the pieces of which two, with the chunk's
// small values, fill a page of pageSize.
func pieceSize(pageSize int) int {
	return (pageSize-boltPageHeader-smallValues)/2 - boltLeafHeader - pieceKeyLen
}

func pieceKey(i int) []byte {
	return appendPieceKey(make([]byte, 0, pieceKeyLen), i)
}

func appendPieceKey(dst []byte, i int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, pieceKeyHead), uint32(i))
}

// isPieceKey reports whether k is pieceKey(i).
func isPieceKey(k []byte, i int) bool {
	return len(k) == pieceKeyLen && k[0] == pieceKeyHead && binary.BigEndian.Uint32(k[1:]) == uint32(i)
}

// putChunkData stores data in the chunk's bucket, in pieces of size.
// BoltDB keeps a reference to data until the transaction commits, and
// copies keys, so one key buffer serves every piece.
func putChunkData(b *bolt.Bucket, data []byte, size int) error {
	if err := b.Put(keyChunkSize, binary.BigEndian.AppendUint64(nil, uint64(len(data)))); err != nil {
		return err
	}
	// Pieces arrive in key order, so leaves may be filled: two pieces a page.
	b.FillPercent = 1
	key := make([]byte, 0, pieceKeyLen)
	for i, off := 0, 0; off < len(data); i, off = i+1, off+size {
		if err := b.Put(appendPieceKey(key[:0], i), data[off:min(off+size, len(data))]); err != nil {
			return err
		}
	}
	return nil
}

// chunkSize returns the length of the data in chunk bucket b, from its
// recorded size or its whole value; ok is false when it has neither.
func chunkSize(b *bolt.Bucket) (n int64, ok bool) {
	if v := b.Get(keyChunkSize); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v)), true
	}
	if v := b.Get(keyChunkData); v != nil {
		return int64(len(v)), true
	}
	return 0, false
}

// appendChunkData appends the data of chunk bucket b to dst, in either
// layout. It fails when pieces are missing or the recorded size does not
// match them.
func appendChunkData(dst []byte, b *bolt.Bucket) ([]byte, error) {
	if v := b.Get(keyChunkData); v != nil {
		return append(dst, v...), nil
	}
	size, ok := chunkSize(b)
	if !ok {
		return dst, errors.New("no data")
	}
	if size < 0 || size > maxChunkSize {
		return dst, fmt.Errorf("recorded size %d is out of range", size)
	}
	start := len(dst)
	dst = slices.Grow(dst, int(size))
	c := b.Cursor()
	want := 0
	for k, v := c.Seek(pieceKey(0)); k != nil && k[0] == pieceKeyHead; k, v = c.Next() {
		if !isPieceKey(k, want) {
			return dst, fmt.Errorf("piece %d is missing", want)
		}
		dst = append(dst, v...)
		want++
	}
	if got := int64(len(dst) - start); got != size {
		return dst, fmt.Errorf("its pieces hold %d bytes, recorded %d", got, size)
	}
	return dst, nil
}

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
