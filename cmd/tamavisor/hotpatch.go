// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tamavisor/tamavisor/hotpatch"
	"github.com/tamavisor/tamavisor/hotpatch/gomodule"
	"github.com/tamavisor/tamavisor/hotpatch/selfimage"
	"github.com/tamavisor/tamavisor/hv/shell"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// hotpatchKeys are the ed25519 public keys (hex, comma-separated) whose
// signatures live patches must carry; the Makefile sets it with -X from
// HOTPATCH_KEYS.
var hotpatchKeys string

// hotpatchCommands sets up live patching: the accepted keys, the image's
// own build-id and symbol table (written by tvimage hpinfo after
// linking), the board's code memory, the runtime registration, the
// stop-the-world of the VM manager m (nil when no VM can run: nothing
// then needs stopping), and the patch command.
func hotpatchCommands(console io.Writer, m *vmm.Manager) ([]shell.Command, *hotpatch.Manager) {
	var keys []ed25519.PublicKey
	for _, h := range strings.Split(hotpatchKeys, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		k, err := hex.DecodeString(h)
		if err != nil || len(k) != ed25519.PublicKeySize {
			fmt.Fprintf(console, "tamavisor: hotpatch: ignoring malformed key %q\r\n", h)
			continue
		}
		keys = append(keys, k)
	}
	eng := &hotpatch.PayloadEngine{
		Keys:    keys,
		Code:    codeMemory(),
		Runtime: gomodule.Register,
		Quiesce: func(time.Duration) (func(), time.Duration, error) { return func() {}, 0, nil },
	}
	if m != nil {
		eng.Quiesce = m.Quiesce
	}
	if img, err := selfimage.Self(); err != nil {
		eng.ImageErr = err
		fmt.Fprintf(console, "tamavisor: hotpatch: no symbol table: %v\r\n", err)
	} else {
		eng.Image = img
		arena := "none (apply and revert refused)"
		if eng.Code != nil {
			base, size := eng.Code.Arena()
			arena = fmt.Sprintf("%#x+%#x", base, size)
		}
		fmt.Fprintf(console, "tamavisor: hotpatch: build-id %x, %d symbols, %d keys, code arena %s\r\n", img.BuildID(), img.Len(), len(keys), arena)
	}
	hm := hotpatch.NewManager(eng)
	return hotpatch.Commands(hm), hm
}
