package update

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/transport"
)

// download fetches the package of target t of repository r into downloads/<sha256>.part and
// returns its path once the file matches the target: exactly its length and every hash given.
//
// It resumes: bytes already in the .part file (from an interrupted cycle) are kept and the
// rest is asked for with "Range: bytes=N-". It never reads more than the target's length: a
// server that announces or sends more is refused and the .part file discarded, as is a file
// whose hashes do not match once complete.
func (c *Client) download(ctx context.Context, r *repo, t target) (string, error) {
	dir := c.Dir.Path(state.DirDownloads)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	part := filepath.Join(dir, t.sha256.String()+".part")
	length := t.info.Length
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", err
	}
	if have > length {
		if err := truncate(f); err != nil {
			return "", err
		}
		have = 0
	}
	if have < length {
		if err := c.fetch(ctx, r, t, f, have); err != nil {
			if errors.Is(err, ErrRefused) {
				f.Close()
				os.Remove(part)
			}
			return "", fmt.Errorf("download %s: %w", t.name, err)
		}
	}
	if err := verifyTarget(f, t); err != nil {
		f.Close()
		os.Remove(part)
		return "", fmt.Errorf("download %s: %w", t.name, err)
	}
	c.hook(StepDownloaded)
	return part, nil
}

// fetch appends the bytes of t from offset have to f, and syncs what it wrote, even after an
// interrupted transfer, so that the next cycle resumes from there.
func (c *Client) fetch(ctx context.Context, r *repo, t target, f *os.File, have int64) error {
	length := t.info.Length
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.ServiceURL+api.DevicePathTUF+r.name+"/targets/"+t.name, nil)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have || total != length {
			return fmt.Errorf("%w: the service answered the range from byte %d with %.80q", ErrRefused, have, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if have > 0 {
			if err := truncate(f); err != nil {
				return err
			}
			have = 0
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		truncate(f) // start again next time
		return fmt.Errorf("the service cannot resume from byte %d", have)
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, transport.MaxResponse))
		return transport.Refusal(transport.Response{Status: resp.StatusCode, Body: b, Header: resp.Header})
	}
	want := length - have
	if resp.ContentLength > want {
		return fmt.Errorf("%w: the service announced %d bytes from byte %d, but TUF says the package is %d bytes", ErrRefused, resp.ContentLength, have, length)
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, want))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	if n < want {
		return fmt.Errorf("the transfer ended after %d of %d bytes; it resumes next time", have+n, length)
	}
	// Never more than TUF's length: one byte more is an endless-data attack, or a lie.
	if k, _ := resp.Body.Read(make([]byte, 1)); k > 0 {
		return fmt.Errorf("%w: the service sent more than the %d bytes TUF says the package has", ErrRefused, length)
	}
	return nil
}

// verifyTarget checks that f holds exactly t: its length, its SHA-256 and its SHA-512 if the
// target gives one. Other hash algorithms are refused, as go-tuf does.
func verifyTarget(f *os.File, t target) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	hashes := map[string]hash.Hash{}
	var ws []io.Writer
	for alg := range t.info.Hashes {
		var h hash.Hash
		switch alg {
		case "sha256":
			h = sha256.New()
		case "sha512":
			h = sha512.New()
		default:
			return fmt.Errorf("%w: target %s has a hash of unknown algorithm %.20q", ErrRefused, t.name, alg)
		}
		hashes[alg] = h
		ws = append(ws, h)
	}
	n, err := io.Copy(io.MultiWriter(ws...), io.LimitReader(f, t.info.Length+1))
	if err != nil {
		return err
	}
	if n != t.info.Length {
		return fmt.Errorf("%w: the package is %d bytes, TUF says %d", ErrRefused, n, t.info.Length)
	}
	for alg, h := range hashes {
		if !bytes.Equal(h.Sum(nil), t.info.Hashes[alg]) {
			return fmt.Errorf("%w: the package does not match its TUF target's %s", ErrRefused, alg)
		}
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

// parseContentRange parses "bytes START-END/TOTAL".
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	first, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	total, err2 := strconv.ParseInt(tot, 10, 64)
	return start, total, err1 == nil && err2 == nil
}

func truncate(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// keepDownloads removes from downloads/ every file but the .part files of keep (SHA-256s), so
// that abandoned downloads do not fill the disk.
func (c *Client) keepDownloads(keep map[string]bool) {
	dir := c.Dir.Path(state.DirDownloads)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || err != nil {
		return
	}
	for _, e := range entries {
		if !keep[strings.TrimSuffix(e.Name(), ".part")] || !strings.HasSuffix(e.Name(), ".part") {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}
