// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	pf "github.com/tamavisor/tamavisor/hotpatch/payload"
)

// PayloadEngine is the Engine for signed hotpatch/payload files against
// the running image: Load authenticates and parses, Check runs the
// payload's CHECK against the image's build-id and symbol table.
//
// Apply and Revert are not implemented yet: they return ENOSYS and change
// nothing (docs/hotpatch.md, "Applying on a running Go image", says what
// is missing). The control plane, upload, CHECK and their refusals work
// on the target today.
type PayloadEngine struct {
	// Keys are the accepted ed25519 public keys (embedded at build time).
	Keys []ed25519.PublicKey
	// Image is the running image; nil when it carries no symbol table
	// (not post-linked), and then Check refuses with ENOSYS.
	Image pf.Image
	// ImageErr says why Image is nil.
	ImageErr error
}

// payloadLoaded is a parsed payload and the buffer its text would run
// from (textAddr: its TextAlign-aligned address).
type payloadLoaded struct {
	p        *pf.Payload
	buf      []byte
	textAddr uint64
}

func (l *payloadLoaded) Targets() []string {
	out := make([]string, len(l.p.Funcs))
	for i, f := range l.p.Funcs {
		out[i] = f.Name
	}
	return out
}

func (l *payloadLoaded) Release() { l.p, l.buf = nil, nil }

// Load implements Engine: the signature is verified before the ELF is
// parsed (pf.Open). A bad or missing signature or an unknown key is
// EPERM; a malformed payload ENOEXEC.
func (e *PayloadEngine) Load(raw []byte) (Loaded, error) {
	p, err := pf.Open(raw, e.Keys)
	switch {
	case errors.Is(err, pf.ErrSignature):
		return nil, fmt.Errorf("%w: %w", EPERM, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ENOEXEC, err)
	}
	buf, addr := alignedText(len(p.Text))
	return &payloadLoaded{p: p, buf: buf, textAddr: addr}, nil
}

// Check implements Engine. Refusals map to errnos as Xen's livepatch
// does where it has one: another build-id or architecture ENOEXEC, an
// unknown symbol ENOENT, a function already patched EEXIST, everything
// else (sizes, ranges, relocations) EINVAL.
func (e *PayloadEngine) Check(l Loaded, applied []Loaded) error {
	pl := l.(*payloadLoaded)
	if e.Image == nil {
		return fmt.Errorf("%w: the running image has no symbol table: %v", ENOSYS, e.ImageErr)
	}
	busy := map[string]bool{}
	for _, a := range applied {
		for _, t := range a.Targets() {
			busy[t] = true
		}
	}
	err := pl.p.Check(e.Image, pl.textAddr, func(fn string) bool { return busy[fn] })
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pf.ErrBuildID), errors.Is(err, pf.ErrArch):
		return fmt.Errorf("%w: %w", ENOEXEC, err)
	case errors.Is(err, pf.ErrUnknownSymbol):
		return fmt.Errorf("%w: %w", ENOENT, err)
	case errors.Is(err, pf.ErrBusy):
		return fmt.Errorf("%w: %w", EEXIST, err)
	}
	return fmt.Errorf("%w: %w", EINVAL, err)
}

// errNoApply is what Apply and Revert return until the engine can patch
// a running Go image.
var errNoApply = fmt.Errorf("%w: applying and reverting on a running Go image is not implemented yet (docs/hotpatch.md)", ENOSYS)

// Apply implements Engine: not yet (ENOSYS, nothing changes).
func (e *PayloadEngine) Apply(Loaded, []Loaded, time.Duration) error { return errNoApply }

// Revert implements Engine: not yet (ENOSYS, nothing changes).
func (e *PayloadEngine) Revert(Loaded, time.Duration) error { return errNoApply }

// alignedText returns a buffer of n bytes at a pf.TextAlign-aligned
// address, and that address.
func alignedText(n int) ([]byte, uint64) {
	raw := make([]byte, n+pf.TextAlign)
	off := alignOffset(raw, pf.TextAlign)
	return raw[off : off+n], addrOf(raw[off:])
}
