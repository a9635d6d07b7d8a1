// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/tamavisor/tamavisor/hotpatch"
	"github.com/tamavisor/tamavisor/hotpatch/selfimage"
	"github.com/tamavisor/tamavisor/hv/shell"
)

// hotpatchKeys are the ed25519 public keys (hex, comma-separated) whose
// signatures live patches must carry; the Makefile sets it with -X from
// HOTPATCH_KEYS.
var hotpatchKeys string

// hotpatchCommands sets up live patching: the accepted keys, the image's
// own build-id and symbol table (written by tvimage hpinfo after
// linking), and the patch command.
func hotpatchCommands(console io.Writer) []shell.Command {
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
	eng := &hotpatch.PayloadEngine{Keys: keys}
	if img, err := selfimage.Self(); err != nil {
		eng.ImageErr = err
		fmt.Fprintf(console, "tamavisor: hotpatch: no symbol table: %v\r\n", err)
	} else {
		eng.Image = img
		fmt.Fprintf(console, "tamavisor: hotpatch: build-id %x, %d functions, %d keys\r\n", img.BuildID(), img.Len(), len(keys))
	}
	return hotpatch.Commands(hotpatch.NewManager(eng))
}
