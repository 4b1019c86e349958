package blob

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestPutOpenRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("rampart"), 1000)
	info, err := s.Put(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) || info.SHA256 != sha256.Sum256(data) || info.SHA512 != sha512.Sum512(data) {
		t.Fatalf("info %+v", info)
	}
	f, err := s.Open(info.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, _ := io.ReadAll(f); !bytes.Equal(got, data) {
		t.Error("content differs")
	}
}

// TestEndlessUploadRefused feeds more than the limit: refused, and nothing is left behind.
func TestEndlessUploadRefused(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	_, err := s.Put(io.LimitReader(zeros{}, 1<<20), 1000)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "sha256", "*"))
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
