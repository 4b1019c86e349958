package rot

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateUDS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "uds")
	if err := CreateUDS(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != UDSSize {
		t.Fatalf("UDS file: mode %v, size %d; want 0600, %d", fi.Mode(), fi.Size(), UDSSize)
	}
	uds, err := LoadUDS(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DeviceIDKey(uds); err != nil {
		t.Fatal(err)
	}

	// Two devices get two secrets.
	other := filepath.Join(t.TempDir(), "uds")
	if err := CreateUDS(other); err != nil {
		t.Fatal(err)
	}
	if uds2, _ := LoadUDS(other); bytes.Equal(uds, uds2) {
		t.Fatal("two UDS files hold the same secret")
	}
}

func TestCreateUDSNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "uds")
	if err := CreateUDS(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := CreateUDS(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CreateUDS: got %v, want fs.ErrExist", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("second CreateUDS changed the UDS")
	}

	// Nor through a dangling symbolic link.
	target := filepath.Join(t.TempDir(), "elsewhere")
	link := filepath.Join(t.TempDir(), "uds")
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	if err := CreateUDS(link); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateUDS through a symlink: got %v, want fs.ErrExist", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("CreateUDS wrote through a symlink")
	}
}

func TestLoadUDSRefuses(t *testing.T) {
	secret := bytes.Repeat([]byte{0xc3}, UDSSize)
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    error
		hint    string
	}{
		{"group readable", secret, 0o640, ErrUDSExposed, "chmod 600"},
		{"world readable", secret, 0o604, ErrUDSExposed, "chmod 600"},
		{"group writable", secret, 0o620, ErrUDSExposed, "chmod 600"},
		{"others executable", secret, 0o601, ErrUDSExposed, "chmod 600"},
		{"short", secret[:UDSSize-1], 0o600, ErrBadUDS, ""},
		{"long", append(bytes.Clone(secret), 0), 0o600, ErrBadUDS, ""},
		{"empty", nil, 0o600, ErrBadUDS, ""},
		{"all zero", make([]byte, UDSSize), 0o600, ErrZeroUDS, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "uds")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			uds, err := LoadUDS(path)
			if !errors.Is(err, tt.want) || uds != nil {
				t.Fatalf("got %x, %v; want %v", uds, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.hint) {
				t.Errorf("error %q does not say %q", err, tt.hint)
			}
			if strings.Contains(err.Error(), hex.EncodeToString(secret[:8])) {
				t.Errorf("error reveals the UDS: %q", err)
			}
		})
	}
}

func TestLoadUDSMissingOrNotAFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadUDS(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: got %v", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadUDS(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: got %v", err)
	}
}
