// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package qemu

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		board string
		opts  Options
		want  []string
	}{
		{VirtARM64, Options{}, []string{
			"-M", "virt,gic-version=3,virtualization=on", "-cpu", "max",
			"-m", "1024", "-smp", "1", "-nographic", "-monitor", "none",
			"-serial", "stdio", "-kernel", "img.elf",
		}},
		{VirtARM64, Options{Secure: true, SMP: 2, MemMiB: 2048, ExtraArgs: []string{"-d", "guest_errors"}}, []string{
			"-M", "virt,gic-version=3,virtualization=on,secure=on", "-cpu", "max",
			"-m", "2048", "-smp", "2", "-nographic", "-monitor", "none",
			"-serial", "stdio", "-kernel", "img.elf", "-semihosting-config", "enable=on,target=native", "-d", "guest_errors",
		}},
		{Q35AMD64, Options{}, []string{
			"-M", "q35", "-accel", "tcg", "-cpu", "max",
			"-m", "1024", "-smp", "2", "-nographic", "-monitor", "none",
			"-serial", "stdio", "-kernel", "img.elf",
			"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-device", "pc-testdev", "-no-reboot",
		}},
		{Q35AMD64, Options{ExtraArgs: []string{"-device", "intel-iommu"}}, []string{
			"-M", "q35", "-accel", "tcg", "-cpu", "max",
			"-m", "1024", "-smp", "2", "-nographic", "-monitor", "none",
			"-serial", "stdio", "-kernel", "img.elf",
			"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-device", "pc-testdev", "-no-reboot",
			"-device", "intel-iommu",
		}},
	} {
		b, err := Lookup(tc.board)
		if err != nil {
			t.Fatal(err)
		}
		b, err = b.With(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Args("img.elf", "stdio"); !slices.Equal(got, tc.want) {
			t.Errorf("%s %+v: Args =\n%q\nwant\n%q", tc.board, tc.opts, got, tc.want)
		}
	}
}

func TestBoardTable(t *testing.T) {
	want := map[string]struct {
		qemu, arch string
		ramBase    uint64
		smp        int
	}{
		VirtARM64: {"qemu-system-aarch64", "arm64", 0x40000000, 1},
		// q35 boots with its application processor, as make qemu does.
		Q35AMD64: {"qemu-system-x86_64", "amd64", 0, 2},
	}
	bs := Boards()
	if len(bs) != len(want) {
		t.Fatalf("Boards() has %d boards, want %d", len(bs), len(want))
	}
	for _, b := range bs {
		w, ok := want[b.Name]
		if !ok {
			t.Errorf("unexpected board %q", b.Name)
			continue
		}
		if b.QEMU != w.qemu || b.Arch != w.arch || b.RAMBase != w.ramBase {
			t.Errorf("%s: QEMU %q arch %q RAMBase %#x, want %q %q %#x", b.Name, b.QEMU, b.Arch, b.RAMBase, w.qemu, w.arch, w.ramBase)
		}
		if b.RAMSize != uint64(b.MemMiB)<<20 || b.SMP != w.smp || b.PoweroffStatus != 0 {
			t.Errorf("%s: RAMSize %#x MemMiB %d SMP %d PoweroffStatus %d", b.Name, b.RAMSize, b.MemMiB, b.SMP, b.PoweroffStatus)
		}
	}
}

func TestWith(t *testing.T) {
	b, _ := Lookup(VirtARM64)
	v, err := b.With(Options{MemMiB: 512, ExtraArgs: []string{"-s"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.RAMSize != 512<<20 || v.MemMiB != 512 {
		t.Errorf("MemMiB override: RAMSize %#x MemMiB %d", v.RAMSize, v.MemMiB)
	}
	if v.Variant() != VirtARM64 {
		t.Errorf("Variant = %q", v.Variant())
	}
	if s, _ := b.With(Options{Secure: true}); s.Variant() != VirtARM64+"+secure" {
		t.Errorf("secure Variant = %q", s.Variant())
	}

	q, _ := Lookup(Q35AMD64)
	if _, err := q.With(Options{Secure: true}); !errors.Is(err, ErrOption) {
		t.Errorf("q35 Secure: err = %v, want ErrOption", err)
	}
	if _, err := q.With(Options{SMP: -1}); !errors.Is(err, ErrOption) {
		t.Errorf("SMP -1: err = %v, want ErrOption", err)
	}

	// Options must not leak into the table.
	q2, _ := q.With(Options{ExtraArgs: []string{"-x"}})
	_ = q2
	if q3, _ := Lookup(Q35AMD64); slices.Contains(q3.ExtraArgs, "-x") {
		t.Errorf("table changed by With: %q", q3.ExtraArgs)
	}
}

func TestLookupUnknown(t *testing.T) {
	_, err := Lookup("qemu-virt-riscv64")
	if !errors.Is(err, ErrUnknownBoard) {
		t.Fatalf("err = %v, want ErrUnknownBoard", err)
	}
	if !strings.Contains(err.Error(), VirtARM64) || !strings.Contains(err.Error(), "qemu-virt-riscv64") {
		t.Errorf("error %q should name the board and list the known ones", err)
	}
}

func TestCommandLine(t *testing.T) {
	b, _ := Lookup(Q35AMD64)
	got := b.CommandLine("build/qemu-q35-amd64/tamavisor.elf")
	want := "qemu-system-x86_64 -M q35 -accel tcg -cpu max -m 1024 -smp 2 -nographic -monitor none " +
		"-serial mon:stdio -kernel build/qemu-q35-amd64/tamavisor.elf " +
		"-device isa-debug-exit,iobase=0xf4,iosize=0x04 -device pc-testdev -no-reboot"
	if got != want {
		t.Errorf("CommandLine =\n%s\nwant\n%s", got, want)
	}
	a, _ := Lookup(VirtARM64)
	if got := a.CommandLine("my image's.elf"); !strings.HasSuffix(got, `-kernel 'my image'\''s.elf'`) {
		t.Errorf("CommandLine does not quote: %s", got)
	}
}
