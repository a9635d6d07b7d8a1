// vmm: the architecture-neutral VM manager of tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmm

import "github.com/tamavisor/tamavisor/hv/vdev/pl011"

func NewRingForTest() *Ring { return pl011.NewRing(LogSize) }
