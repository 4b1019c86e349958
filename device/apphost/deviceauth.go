package apphost

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"time"
)

// The device certificate as apps with DeviceAuthentication see it: a read-only folder of
// their WASI filesystem holding one file, the device's current certificate chain in PEM (Azure
// Sphere's DeviceAuth_GetCertificatePath). The chain is public; its key never leaves the host,
// which does the TLS with it (net_dial_tls). Other apps have no such folder.
const (
	DeviceAuthDir  = "/run/rampart/deviceauth"
	DeviceAuthFile = "device-cert.pem"
)

// deviceAuthFS is the folder DeviceAuthDir: DeviceAuthFile is there once the device has a
// certificate, and is read afresh at each open, so that an app sees a renewed certificate.
type deviceAuthFS struct {
	cert func() (*tls.Certificate, error)
}

func (f deviceAuthFS) chain() ([]byte, bool) {
	if f.cert == nil {
		return nil, false
	}
	c, err := f.cert()
	if err != nil || c == nil || len(c.Certificate) == 0 {
		return nil, false
	}
	var b bytes.Buffer
	for _, der := range c.Certificate {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return b.Bytes(), true
}

func (f deviceAuthFS) Open(name string) (fs.File, error) {
	switch name {
	case ".":
		d := &authDir{}
		if b, ok := f.chain(); ok {
			d.entries = []fs.DirEntry{fs.FileInfoToDirEntry(authInfo{name: DeviceAuthFile, size: int64(len(b))})}
		}
		return d, nil
	case DeviceAuthFile:
		if b, ok := f.chain(); ok {
			return &authFile{Reader: bytes.NewReader(b), size: int64(len(b))}, nil
		}
	}
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// authInfo is the fs.FileInfo of the folder (dir) or the certificate file.
type authInfo struct {
	name string
	size int64
	dir  bool
}

func (i authInfo) Name() string { return i.name }
func (i authInfo) Size() int64  { return i.size }
func (i authInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i authInfo) ModTime() time.Time { return time.Time{} }
func (i authInfo) IsDir() bool        { return i.dir }
func (i authInfo) Sys() any           { return nil }

type authFile struct {
	*bytes.Reader
	size int64
}

func (f *authFile) Stat() (fs.FileInfo, error) {
	return authInfo{name: DeviceAuthFile, size: f.size}, nil
}
func (f *authFile) Close() error { return nil }

type authDir struct {
	entries []fs.DirEntry
	read    bool
}

func (d *authDir) Stat() (fs.FileInfo, error) { return authInfo{name: ".", dir: true}, nil }
func (d *authDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: errors.New("is a directory")}
}
func (d *authDir) Close() error { return nil }

func (d *authDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.read || len(d.entries) == 0 {
		d.read = true
		if n > 0 {
			return nil, io.EOF
		}
		return nil, nil
	}
	d.read = true
	return d.entries, nil
}
