package state

import (
	"errors"
	"io/fs"
	"os"
)

// openShared opens name as os.OpenFile does; a file it creates is shared
// with the owner's group (shareWithGroup), so that a colleague in the
// group can take the operator lock and write the state.
func openShared(name string, flag int, perm os.FileMode) (*os.File, error) {
	if flag&os.O_CREATE != 0 {
		f, err := os.OpenFile(name, flag|os.O_EXCL, perm)
		if err == nil {
			shareWithGroup(f)
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		flag &^= os.O_CREATE
	}
	return os.OpenFile(name, flag, perm)
}

// shareWithGroup lets the group write a new file it may read: the usual
// umask 022 would leave a colleague in the group unable to lock or write
// it. A umask that keeps the group from reading it (077) is honoured.
func shareWithGroup(f *os.File) {
	fi, err := f.Stat()
	if err != nil {
		return
	}
	if m := fi.Mode().Perm(); m&0o040 != 0 && m&0o020 == 0 {
		_ = f.Chmod(m | 0o020)
	}
}
