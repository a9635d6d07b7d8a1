// hotpatch/hpfixture: the live-patch test fixture (build tag hpfixture).
// SPDX-License-Identifier: BSD-3-Clause

//go:build hpfixture

package hpfixture

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/tamavisor/tamavisor/hv/shell"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// HC_HPFIX_SUM is the fixture's hypercall.
const HC_HPFIX_SUM = vmm.HC_FIXTURE_FIRST

// MaxSum bounds the buffer HC_HPFIX_SUM reads.
const MaxSum = 4096

// MaxDepth bounds "hpfix walk".
const MaxDepth = 100_000

// tagBase is the fixture tag without its version byte: ASCII "hpfix".
// The tag is a 64-bit constant so that tag, which every version
// changes, is larger than the 5-byte JMP rel32 trampoline on amd64:
// a function that returns a small constant (XORL AX, AX; RET) is 3
// bytes, and CHECK refuses to patch a function smaller than its
// trampoline.
const tagBase = 0x6870_6669_7800_0000

// Version is the fixture version that is running: 0 unpatched, else
// the version of the applied payload's build.
func Version() int { return int(tag() & 0xff) }

// Calls counts HC_HPFIX_SUM calls.
var Calls atomic.Uint64

// node is one level of Walk.
type node struct {
	prev  *node
	depth int
	val   uint64
	pad   []byte
}

// walkMult is the multiplier walk uses in version v.
func walkMult(v int) uint64 {
	switch v {
	case 1:
		return 37
	case 2:
		return 41
	}
	return 31
}

// Walk recurses depth levels, allocating a node per level that stays
// live across the recursive call and holding acc, a pointer into the
// outermost caller's frame; every 64 levels it runs the collector. It
// returns the sum expectWalk computes. The recursion (walk) is what each
// version changes.
//
//go:noinline
func Walk(depth int, seed uint64, acc *uint64) uint64 {
	return walk(nil, depth, depth, seed, acc)
}

// expectWalk computes what Walk(depth, seed) must return for version v,
// iteratively and without allocating: the independent check.
func expectWalk(depth int, seed uint64, v int) uint64 {
	m := walkMult(v)
	acc := uint64(0)
	for d := depth; d >= 1; d-- {
		seed = seed*m + uint64(d)
		acc += seed ^ uint64(d)
	}
	return acc + uint64(depth)
}

// Register adds the fixture's shell command and hypercall.
func Register() ([]shell.Command, error) {
	if err := vmm.RegisterHypercall(HC_HPFIX_SUM, hcSum); err != nil {
		return nil, err
	}
	return []shell.Command{{
		Name: "hpfix",
		Args: "sum HEX | walk DEPTH [ROUNDS]",
		Help: "live-patch test fixture (test images only)",
		Run:  run,
	}}, nil
}

func hcSum(vm *vmm.VM, vcpu int, regs *[4]uint64) {
	Calls.Add(1)
	ipa, n := regs[1], regs[2]
	if n > MaxSum {
		vm.Stats.BadHypercalls++
		regs[0] = vmm.HC_EINVAL
		return
	}
	buf, ok := vm.RAM.Slice(ipa, n)
	if !ok {
		vm.Stats.BadHypercalls++
		regs[0] = vmm.HC_EINVAL
		return
	}
	regs[0] = Checksum(buf)
	regs[1] = uint64(Version())
}

func run(c *shell.Context, args []string) error {
	if len(args) < 2 {
		return c.Usage()
	}
	switch args[0] {
	case "sum":
		b, err := hex.DecodeString(args[1])
		if err != nil || len(b) > MaxSum {
			return fmt.Errorf("hpfix: %q: want at most %d hex bytes", args[1], MaxSum)
		}
		fmt.Fprintf(c.Out, "hpfix: version %d sum %#x\n", Version(), Checksum(b))
		return nil
	case "walk":
		depth, err := strconv.Atoi(args[1])
		if err != nil || depth < 1 || depth > MaxDepth {
			return fmt.Errorf("hpfix: depth %q: want 1..%d", args[1], MaxDepth)
		}
		rounds := 1
		if len(args) > 2 {
			if rounds, err = strconv.Atoi(args[2]); err != nil || rounds < 1 || rounds > 1000 {
				return fmt.Errorf("hpfix: rounds %q: want 1..1000", args[2])
			}
		}
		bad := 0
		var got, want uint64
		for r := 0; r < rounds; r++ {
			seed := uint64(r + 1)
			acc := uint64(0)
			got = Walk(depth, seed, &acc)
			want = expectWalk(depth, uint64(r+1), Version())
			if got != want {
				bad++
			}
		}
		fmt.Fprintf(c.Out, "hpfix: version %d walk depth %d rounds %d bad %d last %#x want %#x\n", Version(), depth, rounds, bad, got, want)
		return nil
	}
	return c.Usage()
}
