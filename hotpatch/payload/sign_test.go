// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

// TestTrailerLayout checks the trailer byte by byte against doc.go.
func TestTrailerLayout(t *testing.T) {
	key := testKey()
	e := mustEncode(t, amd64Payload())
	s := Sign(e, key)
	tr := s[len(e):]
	if len(tr) != 104 {
		t.Fatalf("trailer of %d bytes", len(tr))
	}
	if !ed25519.Verify(pub(key), e, tr[:64]) {
		t.Error("bytes 0..63 are not an Ed25519 signature of the ELF")
	}
	sum := sha256.Sum256(pub(key))
	if !bytes.Equal(tr[64:72], sum[:8]) {
		t.Errorf("key id % x, want % x", tr[64:72], sum[:8])
	}
	if kid := KeyID(pub(key)); !bytes.Equal(kid[:], sum[:8]) {
		t.Errorf("KeyID = % x", kid)
	}
	if n := binary.LittleEndian.Uint32(tr[72:76]); int(n) != len(e) {
		t.Errorf("length field %d, want %d", n, len(e))
	}
	if string(tr[76:]) != "~tamavisor patch signature~\n" {
		t.Errorf("magic %q", tr[76:])
	}
}

func TestOpenRefused(t *testing.T) {
	key := testKey()
	keys := []ed25519.PublicKey{pub(key)}
	e := mustEncode(t, arm64Payload())
	good := Sign(e, key)
	if _, err := Open(good, keys); err != nil {
		t.Fatalf("Open: %v", err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	n := len(e)
	le := binary.LittleEndian
	withLen := func(l uint32) []byte {
		b := bytes.Clone(good)
		le.PutUint32(b[n+72:], l)
		return b
	}
	cases := []struct {
		name string
		b    []byte
		keys []ed25519.PublicKey
		sub  string
		err  error
	}{
		{"unsigned", e, keys, "no signature trailer", ErrSignature},
		{"empty", nil, keys, "0 bytes, shorter than the 104-byte signature trailer", ErrSignature},
		{"trailer only, short", good[n+1:], keys, "103 bytes, shorter", ErrSignature},
		{"flipped ELF byte", flip(100), keys, "bad signature by key", ErrSignature},
		{"flipped first byte", flip(0), keys, "bad signature by key", ErrSignature},
		{"flipped signature byte", flip(n + 10), keys, "bad signature by key", ErrSignature},
		{"flipped key id", flip(n + 64), keys, "is not a trusted key", ErrSignature},
		{"flipped magic", flip(len(good) - 1), keys, "no signature trailer", ErrSignature},
		{"length too small", withLen(uint32(n - 1)), keys, "trailer length field", ErrSignature},
		{"length too large", withLen(uint32(n + 1)), keys, "trailer length field", ErrSignature},
		{"length huge", withLen(0xffffffff), keys, "trailer length field 4294967295", ErrSignature},
		{"unknown key", good, []ed25519.PublicKey{pub(otherKey())}, "is not a trusted key", ErrSignature},
		{"no keys", good, nil, "is not a trusted key", ErrSignature},
		{"malformed trusted key", good, []ed25519.PublicKey{pub(key)[:31]}, "trusted key 0 has 31 bytes", ErrSignature},
		{"signed by another key under our key id", append(Sign(e, otherKey())[:n+64], good[n+64:]...), keys, "bad signature", ErrSignature},
		{"extra byte before trailer", append(append(bytes.Clone(e), 0), good[n:]...), keys, "trailer length field", ErrSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Open(c.b, c.keys)
			if p != nil {
				t.Error("payload returned with an error")
			}
			wantErr(t, err, c.sub, c.err)
		})
	}

	// A good signature over bytes that are not a payload is refused by
	// Parse, after verification.
	_, err := Open(Sign([]byte("not an ELF file at all, but signed"), key), keys)
	wantErr(t, err, "shorter than the ELF header", ErrFormat)

	// A single-bit change in any byte of the signed file is refused
	// (bit i%8 of byte i, to keep the test quick under -race).
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 1 << (i % 8)
		if _, err := Open(b, keys); err == nil {
			t.Fatalf("bit %d of byte %d flipped: accepted", i%8, i)
		}
	}
}

// TestOpenTruncated opens a signed payload cut at every length.
func TestOpenTruncated(t *testing.T) {
	key := testKey()
	good := Sign(mustEncode(t, amd64Payload()), key)
	for n := 0; n < len(good); n++ {
		if _, err := Open(good[:n], []ed25519.PublicKey{pub(key)}); err == nil {
			t.Fatalf("Open of the first %d of %d bytes succeeded", n, len(good))
		}
	}
}

// TestOpenParsesOnlyAfterVerify shows that a file whose ELF part would
// fail Parse is refused for its signature first when the signature is
// bad.
func TestOpenParsesOnlyAfterVerify(t *testing.T) {
	key := testKey()
	s := Sign([]byte("garbage"), otherKey())
	_, err := Open(s, []ed25519.PublicKey{pub(key)})
	wantErr(t, err, "not a trusted key", ErrSignature)
	if errors.Is(err, ErrFormat) {
		t.Error("ELF part was parsed before the signature was checked")
	}
}

func TestSignPanicsOnBadKey(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Sign with a short key did not panic")
		}
	}()
	Sign([]byte("x"), make(ed25519.PrivateKey, 10))
}
