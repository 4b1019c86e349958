package api

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
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
	field(e.TenantID)
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
