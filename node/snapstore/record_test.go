package snapstore

import (
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// FuzzDecodeRecord feeds arbitrary bytes to the metadata decoder: it must
// fail with ErrCorrupt or return a record that survives a round trip.
func FuzzDecodeRecord(f *testing.F) {
	seed, err := encodeRecord(&record{
		Meta: raft.SnapshotMeta{
			Version: 1, ID: "3-10-7", Index: 10, Term: 3, Peers: []byte{0x91, 0xa1, 0x61},
			Configuration:      raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: "a", Address: "127.0.0.1:1"}}},
			ConfigurationIndex: 9, Size: 13,
		},
		Seq: 7, CRC: 0xdeadbeef, Chunks: 1,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("3-10-7"), seed)
	f.Add([]byte("x"), []byte(`{"Meta":{"ID":"x"}}`))
	f.Add([]byte("x"), []byte(`{"Meta":{"ID":"y"}}`))
	f.Add([]byte(""), []byte(`null`))
	f.Fuzz(func(t *testing.T, id, data []byte) {
		rec, err := decodeRecord(id, data)
		if err != nil {
			return
		}
		if rec.Meta.ID != string(id) {
			t.Fatalf("decoded a record for %q under id %q", rec.Meta.ID, id)
		}
		again, err := encodeRecord(rec)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := decodeRecord(id, again)
		if err != nil {
			t.Fatalf("decode of re-encoded record: %v", err)
		}
		if !reflect.DeepEqual(rec, back) {
			t.Fatalf("round trip changed the record: %+v -> %+v", rec, back)
		}
	})
}
