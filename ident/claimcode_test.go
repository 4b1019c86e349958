package ident

import (
	"strings"
	"testing"
)

func TestClaimCodeRoundTrip(t *testing.T) {
	var seed [ClaimCodeSeedSize]byte
	for i := range seed {
		seed[i] = byte(i*37 + 11)
	}
	c := NewClaimCode(seed)
	if len(c) != 23 || strings.Count(string(c), "-") != 3 {
		t.Fatalf("code %q: want XXXXX-XXXXX-XXXXX-XXXXX", c)
	}
	for _, typed := range []string{string(c), strings.ToLower(string(c)), strings.ReplaceAll(string(c), "-", ""),
		strings.ReplaceAll(string(c), "-", " ")} {
		got, err := ParseClaimCode(typed)
		if err != nil || got != c {
			t.Errorf("ParseClaimCode(%q) = %q, %v; want %q", typed, got, err, c)
		}
	}
	// Every change of one symbol that the check symbol catches is refused; it catches most.
	caught := 0
	for i := range len(c) {
		if c[i] == '-' {
			continue
		}
		b := []byte(c)
		b[i] = crockford[(strings.IndexByte(crockford, b[i])+1)%32]
		if _, err := ParseClaimCode(string(b)); err != nil {
			caught++
		}
	}
	if caught < 15 {
		t.Errorf("the check symbol caught %d of 20 mistyped symbols", caught)
	}
	for _, bad := range []string{"", "ABCDE", string(c) + "0", "UUUUU-UUUUU-UUUUU-UUUUU", strings.Repeat("0", 100)} {
		if _, err := ParseClaimCode(bad); err == nil {
			t.Errorf("ParseClaimCode(%q) accepted", bad)
		}
	}
}

func TestClaimProofNamesNonceAndDevice(t *testing.T) {
	v := ClaimCode("00000-00000-00000-0000X").Verifier()
	d1, d2 := DeviceID(strings.Repeat("a", 64)), DeviceID(strings.Repeat("b", 64))
	p := ClaimProof(v, []byte("nonce-one"), d1)
	if !CheckClaimProof(v, []byte("nonce-one"), d1, p[:]) {
		t.Fatal("proof does not check")
	}
	if CheckClaimProof(v, []byte("nonce-two"), d1, p[:]) || CheckClaimProof(v, []byte("nonce-one"), d2, p[:]) ||
		CheckClaimProof(ClaimCode("11111-11111-11111-1111X").Verifier(), []byte("nonce-one"), d1, p[:]) {
		t.Fatal("proof checks for another nonce, device or code")
	}
}
