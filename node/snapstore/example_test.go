package snapstore_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/chatstate/chatstate/node/snapstore"
	"github.com/hashicorp/raft"
)

func Example() {
	dir, err := os.MkdirTemp("", "snapstore-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	store, err := snapstore.Open(filepath.Join(dir, "snapshots.db"), snapstore.DefaultConfig())
	if err != nil {
		panic(err)
	}
	defer store.Close()

	// What raft does when the FSM persists a snapshot.
	sink, err := store.Create(1, 42, 3, raft.Configuration{}, 40, nil)
	if err != nil {
		panic(err)
	}
	if _, err := sink.Write([]byte("the chat state")); err != nil {
		sink.Cancel()
		panic(err)
	}
	if err := sink.Close(); err != nil {
		panic(err)
	}

	// What raft does when it restores the newest snapshot.
	metas, err := store.List()
	if err != nil {
		panic(err)
	}
	meta, reader, err := store.Open(metas[0].ID)
	if err != nil {
		panic(err)
	}
	defer reader.Close()
	data, err := io.ReadAll(reader)
	if err != nil {
		panic(err)
	}
	fmt.Printf("index %d, term %d, %d bytes: %s\n", meta.Index, meta.Term, meta.Size, data)
	// Output: index 42, term 3, 14 bytes: the chat state
}
