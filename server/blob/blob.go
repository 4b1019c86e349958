// Package blob provides the service's content-addressed file store: runtime releases and (later)
// image packages, kept under their SHA-256 in a folder that several replicas may share.
//
// A blob is written to a temporary file while it is hashed, synced, and renamed into place, so
// a crash leaves either no blob or a whole one; a blob's name is its content's hash, so it is
// immutable and writing it twice is harmless.
package blob

import (
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rampart-iot/rampart/ident"
)

// Store is a folder of blobs.
type Store struct{ dir string }

// Open returns the blob store in dir, making the folder if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "sha256"), 0o700); err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Info describes a stored blob.
type Info struct {
	Size   int64
	SHA256 ident.Digest
	SHA512 [sha512.Size]byte
}

// ErrTooLarge is returned by Put when the content is longer than its limit.
var ErrTooLarge = errors.New("blob larger than its limit")

func (s *Store) path(d ident.Digest) string {
	h := d.String()
	return filepath.Join(s.dir, "sha256", h[:2], h)
}

// Put stores what r yields, at most limit bytes (ErrTooLarge past that, and nothing is kept).
func (s *Store) Put(r io.Reader, limit int64) (Info, error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "sha256"), ".upload-")
	if err != nil {
		return Info{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h256, h512 := sha256.New(), sha512.New()
	n, err := io.Copy(io.MultiWriter(tmp, h256, h512), io.LimitReader(r, limit+1))
	if err != nil {
		return Info{}, fmt.Errorf("store blob: %w", err)
	}
	if n > limit {
		return Info{}, ErrTooLarge
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, err
	}
	if err := tmp.Close(); err != nil {
		return Info{}, err
	}
	info := Info{Size: n}
	h256.Sum(info.SHA256[:0])
	h512.Sum(info.SHA512[:0])
	dst := s.path(info.SHA256)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return Info{}, err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return Info{}, err
	}
	return info, nil
}

// Open opens a blob for reading. The caller closes it.
func (s *Store) Open(d ident.Digest) (*os.File, error) {
	return os.Open(s.path(d))
}
