package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// FsyncFloor is the baseline of every durable write: a file in the data
// directory's filesystem, appended 64 bytes at a time, each append made
// durable with fdatasync (fsync where the system has no fdatasync). No
// Raft write can be faster than one of these; a BoltDB commit costs two.
type FsyncFloor struct {
	f   *os.File
	buf []byte
}

// fsyncAppendBytes is the size of each append: a small log record.
const fsyncAppendBytes = 64

// OpenFsyncFloor creates the file in dir.
func OpenFsyncFloor(dir string) (*FsyncFloor, error) {
	f, err := os.OpenFile(filepath.Join(dir, "fsync-floor.dat"), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: fsync floor: %v", ErrSetup, err)
	}
	buf := make([]byte, fsyncAppendBytes)
	for i := range buf {
		buf[i] = 'a' + byte(i%26)
	}
	buf[len(buf)-1] = '\n'
	return &FsyncFloor{f: f, buf: buf}, nil
}

// Append writes one record and makes it durable.
func (ff *FsyncFloor) Append() error {
	if _, err := ff.f.Write(ff.buf); err != nil {
		return err
	}
	return fdatasync(ff.f)
}

// Op returns Append as an Op; every worker shares the one file, as Raft's
// writers share one log.
func (ff *FsyncFloor) Op() NewOp {
	return func(int, *rand.Rand) Op {
		return func(context.Context) (OpKind, error) { return KindWrite, ff.Append() }
	}
}

// Close closes and removes the file.
func (ff *FsyncFloor) Close() error {
	name := ff.f.Name()
	err := ff.f.Close()
	if rmErr := os.Remove(name); err == nil {
		err = rmErr
	}
	return err
}
