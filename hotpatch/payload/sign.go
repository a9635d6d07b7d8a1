// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
)

// Signature trailer layout (doc.go, "File format"): after the ELF bytes,
//
//	offset from the trailer start  size  field
//	 0                             64    Ed25519 signature of the ELF bytes
//	64                              8    key id: SHA-256(public key)[0:8]
//	72                              4    ELF length, u32 little-endian
//	76                             28    TrailerMagic
const (
	// TrailerMagic ends every signed payload.
	TrailerMagic = "~tamavisor patch signature~\n"
	// KeyIDSize is the size of a key id.
	KeyIDSize = 8
	// TrailerSize is the size of the whole trailer, 104 bytes.
	TrailerSize = ed25519.SignatureSize + KeyIDSize + 4 + len(TrailerMagic)

	trailerKeyID  = ed25519.SignatureSize
	trailerLength = trailerKeyID + KeyIDSize
	trailerMagic  = trailerLength + 4
)

// KeyID returns the key id of an Ed25519 public key: the first KeyIDSize
// bytes of the SHA-256 of its 32 raw bytes.
func KeyID(pub ed25519.PublicKey) [KeyIDSize]byte {
	sum := sha256.Sum256(pub)
	var id [KeyIDSize]byte
	copy(id[:], sum[:])
	return id
}

// Sign returns elf with the signature trailer appended: an Ed25519
// signature of elf by key, the key id of key's public half, the length of
// elf and TrailerMagic. elf is normally the output of Encode; Sign does
// not look inside it.
//
// Preconditions (Sign runs on the build host): key is a 64-byte Ed25519
// private key and len(elf) fits in 32 bits. Sign panics otherwise, as
// ed25519.Sign does for a bad key.
func Sign(elf []byte, key ed25519.PrivateKey) []byte {
	if len(key) != ed25519.PrivateKeySize {
		panic(fmt.Sprintf("payload: Sign with a private key of %d bytes, want %d", len(key), ed25519.PrivateKeySize))
	}
	if uint64(len(elf)) > math.MaxUint32 {
		panic(fmt.Sprintf("payload: Sign of %d bytes, more than a 32-bit length", len(elf)))
	}
	out := make([]byte, 0, len(elf)+TrailerSize)
	out = append(out, elf...)
	out = append(out, ed25519.Sign(key, elf)...)
	id := KeyID(key.Public().(ed25519.PublicKey))
	out = append(out, id[:]...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(elf)))
	return append(out, TrailerMagic...)
}

// Verify checks the signature trailer of signed against the trusted keys
// and returns the ELF part (a subslice of signed). It reads nothing but
// the trailer before the signature has verified. It refuses, wrapping
// ErrSignature: a file shorter than the trailer or without TrailerMagic, a
// length field that is not len(signed) - TrailerSize, a key id that names
// none of keys, and a signature that does not verify with the key it
// names. A key in keys that is not 32 bytes long is a caller error,
// reported wrapping ErrSignature too.
func Verify(signed []byte, keys []ed25519.PublicKey) ([]byte, error) {
	if len(signed) < TrailerSize {
		return nil, fmt.Errorf("payload: %w: %d bytes, shorter than the %d-byte signature trailer", ErrSignature, len(signed), TrailerSize)
	}
	n := len(signed) - TrailerSize
	t := signed[n:]
	if string(t[trailerMagic:]) != TrailerMagic {
		return nil, fmt.Errorf("payload: %w: no signature trailer (magic %q)", ErrSignature, t[trailerMagic:])
	}
	if l := binary.LittleEndian.Uint32(t[trailerLength:]); uint64(l) != uint64(n) {
		return nil, fmt.Errorf("payload: %w: trailer length field %d, the signed part is %d bytes", ErrSignature, l, n)
	}
	if uint64(n) > MaxFile {
		return nil, fmt.Errorf("payload: %w: signed part of %d bytes exceeds MaxFile (%d)", ErrFormat, n, MaxFile)
	}
	elf, sig, id := signed[:n], t[:trailerKeyID], t[trailerKeyID:trailerLength]
	known := false
	for i, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("payload: %w: trusted key %d has %d bytes, want %d", ErrSignature, i, len(k), ed25519.PublicKeySize)
		}
		if kid := KeyID(k); string(kid[:]) != string(id) {
			continue
		}
		known = true
		if ed25519.Verify(k, elf, sig) {
			return elf, nil
		}
	}
	if !known {
		return nil, fmt.Errorf("payload: %w: key id %x is not a trusted key", ErrSignature, id)
	}
	return nil, fmt.Errorf("payload: %w: bad signature by key %x", ErrSignature, id)
}

// IDSize is the size of a payload id.
const IDSize = 20

// ID returns the id of the payload whose unsigned ELF is elf: the first
// IDSize bytes of its SHA-256. A payload that stacks on another names
// that payload's id in its Depends (.tvpatch.depends; docs/hotpatch.md,
// "Stacking"), as a Xen livepatch names the build-id of the one below.
func ID(elf []byte) []byte {
	h := sha256.Sum256(elf)
	return h[:IDSize]
}

// Open verifies a signed payload with Verify and, only if the signature
// is good, parses its ELF part with Parse. The Payload shares no memory
// with signed.
func Open(signed []byte, keys []ed25519.PublicKey) (*Payload, error) {
	elf, err := Verify(signed, keys)
	if err != nil {
		return nil, err
	}
	return Parse(elf)
}
