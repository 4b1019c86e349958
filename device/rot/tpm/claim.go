package tpm

import (
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"

	"github.com/rampart-iot/rampart/ident"
)

// srkHandle is the persistent handle of the storage root key that go-attestation makes and
// uses; the claim key lives under it too.
const srkHandle = tpm2.TPMHandle(0x81000001)

// claimLabel is what the claim key's HMAC is taken over.
const claimLabel = "Rampart claim code"

var claimKeyTemplate = tpm2.TPMTPublic{
	Type:    tpm2.TPMAlgKeyedHash,
	NameAlg: tpm2.TPMAlgSHA256,
	ObjectAttributes: tpm2.TPMAObject{
		FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true, UserWithAuth: true, SignEncrypt: true,
	},
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
		Scheme: tpm2.TPMTKeyedHashScheme{
			Scheme:  tpm2.TPMAlgHMAC,
			Details: tpm2.NewTPMUSchemeKeyedHash(tpm2.TPMAlgHMAC, &tpm2.TPMSSchemeHMAC{HashAlg: tpm2.TPMAlgSHA256}),
		},
	}),
}

// srk returns the SRK as a parent handle. The caller holds t.mu.
func (t *TPM) srk() (tpm2.AuthHandle, error) {
	rp, err := tpm2.ReadPublic{ObjectHandle: srkHandle}.Execute(t.tr)
	if err != nil {
		return tpm2.AuthHandle{}, fmt.Errorf("read the storage root key: %w", err)
	}
	return tpm2.AuthHandle{Handle: srkHandle, Name: rp.Name, Auth: tpm2.PasswordAuth(nil)}, nil
}

// createClaimKey makes the claim key under the SRK. The caller holds t.mu, and has made the
// SRK (Provision makes the AK first).
func (t *TPM) createClaimKey() (pub, priv []byte, err error) {
	parent, err := t.srk()
	if err != nil {
		return nil, nil, err
	}
	rsp, err := tpm2.Create{ParentHandle: parent, InPublic: tpm2.New2B(claimKeyTemplate)}.Execute(t.tr)
	if err != nil {
		return nil, nil, err
	}
	return rsp.OutPublic.Bytes(), rsp.OutPrivate.Buffer, nil
}

// ClaimCode computes the device's claim code with the claim key: the first
// ident.ClaimCodeSeedSize bytes of HMAC-SHA256(claim key, "Rampart claim code"), rendered by
// [ident.NewClaimCode].
func (t *TPM) ClaimCode(pub, priv []byte) (ident.ClaimCode, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	parent, err := t.srk()
	if err != nil {
		return "", fmt.Errorf("claim code: %w", err)
	}
	if len(pub) == 0 || len(priv) == 0 {
		return "", errors.New("claim code: the claim key is missing")
	}
	lr, err := tpm2.Load{
		ParentHandle: parent,
		InPublic:     tpm2.BytesAs2B[tpm2.TPMTPublic](pub),
		InPrivate:    tpm2.TPM2BPrivate{Buffer: priv},
	}.Execute(t.tr)
	if err != nil {
		return "", fmt.Errorf("claim code: load the claim key (was the state folder made with another TPM?): %w", err)
	}
	defer tpm2.FlushContext{FlushHandle: lr.ObjectHandle}.Execute(t.tr)
	h, err := tpm2.Hmac{
		Handle:  tpm2.AuthHandle{Handle: lr.ObjectHandle, Name: lr.Name, Auth: tpm2.PasswordAuth(nil)},
		Buffer:  tpm2.TPM2BMaxBuffer{Buffer: []byte(claimLabel)},
		HashAlg: tpm2.TPMAlgSHA256,
	}.Execute(t.tr)
	if err != nil {
		return "", fmt.Errorf("claim code: %w", err)
	}
	var seed [ident.ClaimCodeSeedSize]byte
	copy(seed[:], h.OutHMAC.Buffer)
	clear(h.OutHMAC.Buffer)
	return ident.NewClaimCode(seed), nil
}
