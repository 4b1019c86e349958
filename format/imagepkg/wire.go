package imagepkg

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/rampart-iot/rampart/ident"
)

// readHeader reads the header's parts in order, each bounded before it is allocated.
func readHeader(r io.Reader) (*Header, error) {
	var magic [len(Magic)]byte
	if err := readFull(r, magic[:], "magic"); err != nil {
		return nil, err
	}
	if string(magic[:]) != Magic {
		return nil, fmt.Errorf("%w: not an image package (it does not start with %q)", ErrMalformed, Magic)
	}
	mb, err := readManifestBytes(r)
	if err != nil {
		return nil, err
	}
	m, err := parseManifest(mb)
	if err != nil {
		return nil, err
	}
	var u8 [1]byte
	if err := readFull(r, u8[:], "signature count"); err != nil {
		return nil, err
	}
	count := int(u8[0])
	switch {
	case count == 0:
		return nil, fmt.Errorf("%w: no signature", ErrMalformed)
	case count > MaxSignatures:
		return nil, fmt.Errorf("%w: %d signatures, over the limit of %d", ErrTooLarge, count, MaxSignatures)
	}
	h := &Header{Manifest: m, ManifestBytes: mb, Signatures: make([]Signature, 0, count)}
	seen := make(map[string]bool, count)
	for i := range count {
		sig, err := readSignature(r, fmt.Sprintf("signature %d", i+1))
		if err != nil {
			return nil, err
		}
		if seen[sig.KeyID] {
			return nil, fmt.Errorf("%w: signature %d: key %s… signs twice", ErrMalformed, i+1, sig.KeyID[:16])
		}
		seen[sig.KeyID] = true
		h.Signatures = append(h.Signatures, sig)
	}
	return h, nil
}

// readManifestBytes reads the manifest's length and then the manifest, refusing an empty one or
// one over [MaxManifestSize] before allocating it.
func readManifestBytes(r io.Reader) ([]byte, error) {
	var u32 [4]byte
	if err := readFull(r, u32[:], "manifest length"); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(u32[:])
	switch {
	case n == 0:
		return nil, fmt.Errorf("%w: empty manifest", ErrMalformed)
	case n > MaxManifestSize:
		return nil, fmt.Errorf("%w: manifest of %d bytes is over the limit of %d", ErrTooLarge, n, MaxManifestSize)
	}
	mb := make([]byte, n)
	if err := readFull(r, mb, "manifest"); err != nil {
		return nil, err
	}
	return mb, nil
}

// readSignature reads one signature: the key ID's length and the key ID, then the signature's
// length and the signature, bounded before it is allocated.
func readSignature(r io.Reader, what string) (Signature, error) {
	var u8 [1]byte
	if err := readFull(r, u8[:], what); err != nil {
		return Signature{}, err
	}
	if u8[0] != keyIDLen {
		return Signature{}, fmt.Errorf("%w: %s: key ID of %d bytes, want %d", ErrMalformed, what, u8[0], keyIDLen)
	}
	var kid [keyIDLen]byte
	if err := readFull(r, kid[:], what); err != nil {
		return Signature{}, err
	}
	id := string(kid[:])
	if _, err := ident.ParseDigest(id); err != nil {
		return Signature{}, fmt.Errorf("%w: %s: key ID is not 64 lowercase hex characters", ErrMalformed, what)
	}
	var u16 [2]byte
	if err := readFull(r, u16[:], what); err != nil {
		return Signature{}, err
	}
	sn := binary.BigEndian.Uint16(u16[:])
	switch {
	case sn == 0:
		return Signature{}, fmt.Errorf("%w: %s is empty", ErrMalformed, what)
	case sn > MaxSignatureSize:
		return Signature{}, fmt.Errorf("%w: %s of %d bytes is over the limit of %d", ErrTooLarge, what, sn, MaxSignatureSize)
	}
	sig := make([]byte, sn)
	if err := readFull(r, sig, what); err != nil {
		return Signature{}, err
	}
	return Signature{KeyID: id, Sig: sig}, nil
}

// readFull fills b from r. A stream that ends first is a malformed package; any other error
// is r's, returned as it is.
func readFull(r io.Reader, b []byte, what string) error {
	_, err := io.ReadFull(r, b)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: the stream ends inside the %s", ErrMalformed, what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// write writes the package of the manifest bytes mb (which hold m), signed by signers, and the
// payload checked against m.
func write(w io.Writer, mb []byte, m Manifest, payload io.Reader, signers []crypto.Signer) error {
	hdr, err := header(mb, signers)
	if err != nil {
		return fmt.Errorf("write image package: %w", err)
	}
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("write image package: %w", err)
	}
	if _, err := io.Copy(w, newPayloadReader(payload, m.PayloadSize, m.PayloadSHA256)); err != nil {
		return fmt.Errorf("write image package: %w", err)
	}
	return nil
}

// header encodes everything before the payload, signing mb with each of signers.
func header(mb []byte, signers []crypto.Signer) ([]byte, error) {
	switch {
	case len(signers) == 0:
		return nil, errors.New("no signer: a package needs at least one signature")
	case len(signers) > MaxSignatures:
		return nil, fmt.Errorf("%w: %d signers, over the limit of %d", ErrTooLarge, len(signers), MaxSignatures)
	}
	digest := signedDigest(mb)
	b := bytes.NewBuffer(make([]byte, 0, len(Magic)+4+len(mb)+1+len(signers)*(1+keyIDLen+2+72)))
	b.WriteString(Magic)
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(mb))))
	b.Write(mb)
	b.WriteByte(byte(len(signers)))
	seen := map[string]bool{}
	for i, s := range signers {
		pub, ok := s.Public().(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("signer %d: not an ECDSA P-256 key", i+1)
		}
		id := KeyID(pub)
		if seen[id] {
			return nil, fmt.Errorf("signer %d: key %s… is given twice", i+1, id[:16])
		}
		seen[id] = true
		sig, err := s.Sign(rand.Reader, digest, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("signer %d: %w", i+1, err)
		}
		// A signer that is a device or a remote service may answer with anything: check.
		if len(sig) == 0 || len(sig) > MaxSignatureSize || !ecdsa.VerifyASN1(pub, digest, sig) {
			return nil, fmt.Errorf("signer %d: its signature does not verify", i+1)
		}
		b.WriteByte(keyIDLen)
		b.WriteString(id)
		b.Write(binary.BigEndian.AppendUint16(nil, uint16(len(sig))))
		b.Write(sig)
	}
	return b.Bytes(), nil
}

// payloadReader streams a payload of a declared size and SHA-256, hashing as it goes.
type payloadReader struct {
	r    io.Reader
	size int64 // declared
	want ident.Digest
	n    int64 // read so far
	h    hash.Hash
	eof  bool  // r has said io.EOF
	err  error // the final result, once known
}

func newPayloadReader(r io.Reader, size int64, want ident.Digest) *payloadReader {
	return &payloadReader{r: r, size: size, want: want, h: sha256.New()}
}

// maxEmptyReads bounds the reads that return nothing at all, as bufio does.
const maxEmptyReads = 100

func (p *payloadReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if p.n < p.size {
		if rest := p.size - p.n; int64(len(b)) > rest {
			b = b[:rest]
		}
		if len(b) == 0 {
			return 0, nil
		}
		n, err := p.r.Read(b)
		p.h.Write(b[:n])
		p.n += int64(n)
		switch {
		case err == io.EOF && p.n < p.size:
			p.err = fmt.Errorf("%w: it ends after %d of its %d bytes", ErrPayloadMismatch, p.n, p.size)
			return n, p.err
		case err == io.EOF:
			p.eof = true
		case err != nil:
			return n, err
		}
		if n > 0 || p.n < p.size {
			return n, nil
		}
	}
	// Every declared byte has been read: nothing may follow, and the hash must match.
	if !p.eof {
		if err := p.readAhead(); err != nil {
			return 0, err
		}
	}
	if got := ident.Digest(p.h.Sum(nil)); got != p.want {
		p.err = fmt.Errorf("%w: its SHA-256 is %s, the manifest says %s", ErrPayloadMismatch, got, p.want)
	} else {
		p.err = io.EOF
	}
	return 0, p.err
}

// readAhead reads one byte past the declared end to tell the end of the stream from more data,
// however much more there is.
func (p *payloadReader) readAhead() error {
	var one [1]byte
	for range maxEmptyReads {
		n, err := p.r.Read(one[:])
		switch {
		case n > 0:
			p.err = fmt.Errorf("%w: more bytes follow its declared %d", ErrPayloadMismatch, p.size)
			return p.err
		case err == io.EOF:
			p.eof = true
			return nil
		case err != nil:
			return err
		}
	}
	return io.ErrNoProgress
}
