// hotpatch/gomodule: make the Go runtime know live-patch code.
// SPDX-License-Identifier: BSD-3-Clause

//go:build !(go1.25 && !go1.26)

package gomodule

import (
	"fmt"
	"runtime"

	"github.com/tamavisor/tamavisor/hotpatch/gofunc"
)

// Register refuses: this Go version's runtime.moduledata is not mirrored.
func Register(name string, t *gofunc.Tables, text, size uint64) error {
	return fmt.Errorf("%w: %s", ErrRuntime, runtime.Version())
}

// Modules is the number of registered payload modules.
func Modules() int { return 0 }
