package fsm

import (
	"errors"
	"io"

	"github.com/hashicorp/raft"
)

// Snapshot captures the current state in O(1).
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("fsm: snapshot not implemented yet") }

// Restore replaces the whole state with a snapshot written by Persist. The
// new state is built aside and swapped in atomically.
func (f *FSM) Restore(rc io.ReadCloser) error { return errors.New("fsm: restore not implemented yet") }
