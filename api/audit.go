package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/ident"
)

// GenesisHash is the PrevHash of the first entry of every audit chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// ComputeHash returns the hash that e must carry: SHA-256 over e.PrevHash and every other field
// but Hash, each length-prefixed so that no two different entries encode alike. The time is
// taken in UTC with microsecond precision, the finest both stores keep.
func (e AuditEntry) ComputeHash() string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("rampart-audit-v1")
	field(e.PrevHash)
	field(fmt.Sprint(e.Seq))
	field(string(e.TenantID))
	field(e.Time.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano))
	field(e.Actor)
	field(e.Action)
	field(e.Target)
	field(e.Source)
	field(e.Detail)
	return hex.EncodeToString(h.Sum(nil))
}

// VerifyChain checks that entries, consecutive and oldest first, link to prev (the hash of the
// entry before the first, or [GenesisHash]) and that each carries its own hash. It returns the
// hash of the last entry, to continue with the next page.
func VerifyChain(prev string, prevSeq int64, entries []AuditEntry) (string, int64, error) {
	for _, e := range entries {
		if e.Seq != prevSeq+1 {
			return prev, prevSeq, fmt.Errorf("audit entry %d follows %d: an entry is missing", e.Seq, prevSeq)
		}
		if e.PrevHash != prev {
			return prev, prevSeq, fmt.Errorf("audit entry %d does not link to entry %d: the chain was altered", e.Seq, prevSeq)
		}
		if e.ComputeHash() != e.Hash {
			return prev, prevSeq, fmt.Errorf("audit entry %d was edited: its hash does not match its content", e.Seq)
		}
		prev, prevSeq = e.Hash, e.Seq
	}
	return prev, prevSeq, nil
}

// AuditHead is the last entry of an audit chain: its number and hash (0 and [GenesisHash] for an
// empty chain). Kept elsewhere, it lets `rampart audit verify --head` find a cut or rewritten
// tail later.
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// AuditCheckpoint is the service's signature over an audit chain's head at a time, made with
// its checkpoint key, which is sealed with the key-encryption key: whoever can write the
// database but lacks that key cannot make one. TenantID "" is the operator's chain.
type AuditCheckpoint struct {
	TenantID  ident.TenantID `json:"tenant_id"`
	Seq       int64          `json:"seq"`
	Hash      string         `json:"hash"`
	SignedAt  time.Time      `json:"signed_at"`
	Signature string         `json:"signature"` // base64 of an ASN.1 ECDSA P-256 signature over SignedMessage
}

// AuditCheckpointList is one page of GET /api/v1/audit/checkpoints, oldest first.
type AuditCheckpointList struct {
	Checkpoints   []AuditCheckpoint `json:"checkpoints"`
	NextPageToken string            `json:"next_page_token,omitempty"`
}

// AuditCheckpointKey is the public key that signs audit checkpoints, as PEM.
type AuditCheckpointKey struct {
	PublicKey string `json:"public_key"`
}

// CheckpointInterval is how often the service signs a checkpoint of a chain whose head did not
// move; a moved head is signed within the hour. CheckpointMaxAge is how old the newest
// checkpoint of a chain older than that may be before `audit verify` calls checkpoints missing.
const (
	CheckpointInterval = 24 * time.Hour
	CheckpointMaxAge   = 2 * CheckpointInterval
)

// SignedMessage is what a checkpoint's signature covers: its fields, each length-prefixed,
// under a label of its own so that no other signature of the key can pass for one.
func (c AuditCheckpoint) SignedMessage() []byte {
	var b []byte
	for _, s := range []string{"rampart-audit-checkpoint-v1", string(c.TenantID), fmt.Sprint(c.Seq), c.Hash,
		c.SignedAt.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)} {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// Verify checks the checkpoint's signature with pub.
func (c AuditCheckpoint) Verify(pub *ecdsa.PublicKey) error {
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	digest := sha256.Sum256(c.SignedMessage())
	if err != nil || !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return fmt.Errorf("audit checkpoint of entry %d (signed %s) has no valid signature by the checkpoint key: it was forged or altered",
			c.Seq, c.SignedAt.Format(time.RFC3339))
	}
	return nil
}

// ParseCheckpointKey reads a checkpoint public key from PEM.
func ParseCheckpointKey(text []byte) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode(text)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("checkpoint key: want a PEM PUBLIC KEY block (from 'rampart audit checkpoint-key')")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("checkpoint key: want an ECDSA P-256 key")
	}
	return ec, nil
}

// ChainCheck checks an audit chain, read page by page, against a saved head and signed
// checkpoints. Feed it each verified page with Entries, then call Done.
type ChainCheck struct {
	Head        *AuditHead        // a head saved earlier, or nil; Seq -1 if its number is not known
	Checkpoints []AuditCheckpoint // verified signatures, oldest first

	headSeen bool
	bySeq    map[int64][]AuditCheckpoint
	seq      int64
	hash     string
}

// Entries checks a page of entries, consecutive with the previous page.
func (c *ChainCheck) Entries(es []AuditEntry) error {
	if c.bySeq == nil {
		c.bySeq = map[int64][]AuditCheckpoint{}
		for _, cp := range c.Checkpoints {
			c.bySeq[cp.Seq] = append(c.bySeq[cp.Seq], cp)
		}
	}
	for _, e := range es {
		if c.Head != nil && e.Seq == c.Head.Seq && e.Hash != c.Head.Hash {
			return fmt.Errorf("audit entry %d is not the saved head %s: the log was rewritten from there on", e.Seq, c.Head.Hash)
		}
		if c.Head != nil && e.Hash == c.Head.Hash {
			c.headSeen = true
		}
		for _, cp := range c.bySeq[e.Seq] {
			if cp.Hash != e.Hash {
				return fmt.Errorf("audit entry %d differs from the one the service signed on %s: the log was rewritten",
					e.Seq, cp.SignedAt.Format(time.RFC3339))
			}
		}
		c.seq, c.hash = e.Seq, e.Hash
	}
	return nil
}

// Done ends the check: the chain must reach the saved head and every checkpoint, and, if it
// is older than [CheckpointMaxAge], have a checkpoint younger than that.
func (c *ChainCheck) Done(firstEntry, now time.Time) error {
	if c.Head != nil && !c.headSeen && c.Head.Hash != GenesisHash {
		switch {
		case c.Head.Seq > c.seq:
			return fmt.Errorf("audit log has %d entries, fewer than the saved head's %d: its tail was cut", c.seq, c.Head.Seq)
		case c.Head.Seq < 0:
			return fmt.Errorf("audit log does not hold the saved head %s: it was cut or rewritten", c.Head.Hash)
		}
		return fmt.Errorf("audit log does not hold the saved head %s: the log was rewritten", c.Head.Hash)
	}
	var newest time.Time
	for _, cp := range c.Checkpoints {
		if cp.Seq > c.seq {
			return fmt.Errorf("audit log has %d entries, but the service signed entry %d on %s: its tail was cut",
				c.seq, cp.Seq, cp.SignedAt.Format(time.RFC3339))
		}
		if cp.SignedAt.After(newest) {
			newest = cp.SignedAt
		}
	}
	if c.seq > 0 && now.Sub(firstEntry) > CheckpointMaxAge && now.Sub(newest) > CheckpointMaxAge {
		return fmt.Errorf("audit log has no checkpoint signed in the last %s: checkpoints were removed, or the service's checkpoint job does not run", CheckpointMaxAge)
	}
	return nil
}
