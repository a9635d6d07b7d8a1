// hotpatch/hpfixture: the live-patch test fixture (build tag hpfixture).
// SPDX-License-Identifier: BSD-3-Clause

//go:build hpfixture

package hpfixture

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tamavisor/tamavisor/hotpatch"
	"github.com/tamavisor/tamavisor/hv/shell"
)

// StressCommand is "hpfix stress NAME CYCLES": it applies and reverts
// the payload NAME (uploaded and CHECKED) CYCLES times through m, while
// one goroutine runs the collector without pause and another runs Walk,
// and after each apply and each revert checks what Checksum returns
// against the version Version reports. Walks that overlap an apply or a
// revert (a goroutine parked in one version resumes in the other) are
// not compared, only counted (their chain check must still pass); the
// others must match expectWalk, and every 50 cycles the stress waits for
// such a whole walk in each version. The
// guests keep calling HC_HPFIX_SUM meanwhile. It prints
//
//	hpfix: stress N cycles bad B walks W (mixed M) gcs G
//
// and the pause statistics are in "patch stats".
func StressCommand(m *hotpatch.Manager) shell.Command {
	return shell.Command{
		Name: "hpfix-stress",
		Args: "NAME CYCLES",
		Help: "apply and revert NAME CYCLES times under GC and Walk load (test images only)",
		Run: func(c *shell.Context, args []string) error {
			if len(args) != 2 {
				return c.Usage()
			}
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 || n > 100_000 {
				return fmt.Errorf("hpfix: cycles %q: want 1..100000", args[1])
			}
			return stress(c, m, args[0], n)
		},
	}
}

// data is checksummed after each switch: Adler-32 of 1..64, 0xb3000821;
// version 0 leaves the last byte out.
var data = func() []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}()

// Every settleEvery cycles, after each switch, the stress waits (up to
// settleMax) for one walk to run whole in the current version.
const (
	settleEvery = 50
	settleMax   = 10 * time.Second
)

func stress(c *shell.Context, m *hotpatch.Manager, name string, cycles int) error {
	var gen atomic.Uint64 // bumped before and after every switch
	var stop atomic.Bool
	var gcs, walks, mixed, bad atomic.Uint64
	done := make(chan struct{}, 2)
	go func() {
		for !stop.Load() {
			runtime.GC()
			gcs.Add(1)
			runtime.Gosched()
		}
		done <- struct{}{}
	}()
	go func() {
		for !stop.Load() {
			g0 := gen.Load()
			v := Version()
			acc := uint64(0)
			r := Walk(300, 7, &acc)
			switch {
			case r == 0:
				// Walk's chain check failed: a node was lost or
				// overwritten, whatever the versions.
				bad.Add(1)
			case gen.Load() != g0 || g0%2 == 1:
				mixed.Add(1)
			case r != expectWalk(300, 7, v):
				bad.Add(1)
			}
			walks.Add(1)
			runtime.Gosched()
		}
		done <- struct{}{}
	}()
	var err error
	for i := 0; i < cycles && err == nil; i++ {
		for _, a := range [...]hotpatch.ActionKind{hotpatch.ActionApply, hotpatch.ActionRevert} {
			gen.Add(1)
			if err = m.ActionWait(name, a, 0); err != nil {
				err = fmt.Errorf("hpfix: cycle %d: %v: %w", i, a, err)
				break
			}
			gen.Add(1)
			want := uint64(0xb3000821)
			if Version() == 0 {
				want = 0xaadf07e1
			}
			if a == hotpatch.ActionApply && Version() == 0 || a == hotpatch.ActionRevert && Version() != 0 || Checksum(data) != want {
				bad.Add(1)
			}
			if i%settleEvery == 0 {
				// Let a whole walk run in this version, so that walks
				// are compared with expectWalk, not only counted.
				whole := walks.Load() - mixed.Load()
				for t0 := time.Now(); walks.Load()-mixed.Load() == whole && time.Since(t0) < settleMax; {
					runtime.Gosched()
				}
			}
			runtime.Gosched()
		}
	}
	stop.Store(true)
	<-done
	<-done
	fmt.Fprintf(c.Out, "hpfix: stress %d cycles bad %d walks %d (mixed %d) gcs %d\n", cycles, bad.Load(), walks.Load(), mixed.Load(), gcs.Load())
	return err
}
