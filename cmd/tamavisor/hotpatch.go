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
	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/shell"
	"github.com/tamavisor/tamavisor/soc/qemu/fwcfg"
)

// hotpatchKeys are the ed25519 public keys (hex, comma-separated) whose
// signatures live patches must carry; the Makefile sets it with -X from
// HOTPATCH_KEYS.
var hotpatchKeys string

// hotpatchCommands sets up live patching: the accepted keys, the image's
// own build-id and symbol table (written by tvimage hpinfo after
// linking), the board's code memory, the runtime registration, and the
// patch command. It runs before any VM exists, so its engine stops
// nothing; startVMs hands it the VM manager's stop-the-world
// (PayloadEngine.SetQuiesce).
func hotpatchCommands(console io.Writer) ([]shell.Command, *hotpatch.Manager, *hotpatch.PayloadEngine) {
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
	return hotpatch.Commands(hm), hm, eng
}

// bootPayloadPrefix names the boot payloads in QEMU's fw_cfg: a file
// opt/tamavisor/hotpatch/NAME (qemu -fw_cfg name=...,file=PAYLOAD.tvp)
// is the payload NAME.
const bootPayloadPrefix = "opt/tamavisor/hotpatch/"

// bootPayload is a live patch the board was given at boot.
type bootPayload struct {
	name string
	raw  []byte
	err  error // reading it failed
}

// fwcfgPayloads returns the boot payloads in d's file directory, in the
// directory's (name) order.
func fwcfgPayloads(d *fwcfg.Device) []bootPayload {
	if !d.Present() {
		return nil
	}
	files, err := d.Files()
	if err != nil {
		return []bootPayload{{name: "(fw_cfg)", err: err}}
	}
	var out []bootPayload
	for _, f := range files {
		name, ok := strings.CutPrefix(f.Name, bootPayloadPrefix)
		if !ok {
			continue
		}
		raw, err := d.ReadFile(f.Name)
		out = append(out, bootPayload{name: name, raw: raw, err: err})
	}
	return out
}

// bootModulePrefix names the boot payloads among the boot loader's
// modules: a module whose command line starts with hotpatch/NAME (GRUB:
// module2 /boot/fix.tvp hotpatch/NAME) is the payload NAME.
const bootModulePrefix = "hotpatch/"

// maxModulePayload bounds a boot-module payload, as fw_cfg bounds its
// files (fwcfg.MaxFileSize).
const maxModulePayload = 1 << 20

// modulePayloads returns the boot payloads among mods, in the loader's
// order, copied out of the module memory view gives access to. A module
// that is too large or that view cannot reach is reported as a refused
// payload, not dropped.
func modulePayloads(mods []hv.BootModule, view func(hv.BootModule) []byte) []bootPayload {
	var out []bootPayload
	for _, m := range mods {
		name, ok := strings.CutPrefix(m.Name, bootModulePrefix)
		if !ok {
			continue
		}
		p := bootPayload{name: name}
		switch b := view(m); {
		case m.Size > maxModulePayload:
			p.err = fmt.Errorf("boot module %s is %d bytes, at most %d", m.Name, m.Size, maxModulePayload)
		case b == nil || uint64(len(b)) != m.Size:
			p.err = fmt.Errorf("boot module %s at %#x (%d bytes) is not readable", m.Name, uint64(m.Base), m.Size)
		default:
			p.raw = append([]byte(nil), b...)
		}
		out = append(out, p)
	}
	return out
}

// applyBootPayloads uploads, checks and applies each boot payload in
// order, before any VM runs, so guests never run the unpatched code. A
// payload that fails is reported and left in the state it reached (the
// operator sees it with "patch list"); the others still apply.
func applyBootPayloads(console io.Writer, hm *hotpatch.Manager, ps []bootPayload) {
	for _, p := range ps {
		err := p.err
		if err == nil {
			err = hm.ApplyAtBoot(p.name, p.raw, 0)
		}
		if err != nil {
			fmt.Fprintf(console, "tamavisor: hotpatch: boot payload %s refused: %v\r\n", p.name, err)
			continue
		}
		fmt.Fprintf(console, "tamavisor: hotpatch: boot payload %s applied\r\n", p.name)
	}
}
