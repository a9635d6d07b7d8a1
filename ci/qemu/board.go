// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

// Package qemu boots tamavisor images under QEMU (TCG) on the Linux build
// host and drives the hypervisor's serial shell for integration tests.
//
// It runs on the host only (Linux, or another Unix with process groups),
// never on a tamavisor target. The package has three parts:
//
//   - a board table (platform as data): [Board], [Lookup], [Boards] and
//     [Board.Args] give the exact QEMU command line of each tier-1 board;
//   - [Machine], started by [Start]: one QEMU process in its own process
//     group, with the serial console on its stdin/stdout or on a unix
//     socket that a test can hand to a host tool such as cmd/hvctl and
//     take back ([Machine.Detach], [Machine.Attach]), a hard wall-clock
//     limit, an expect-style API ([Machine.Expect], [Machine.ExpectLine],
//     [Machine.Send]) and a log file that is written as output arrives;
//   - [Boot], the helper tests call: it finds the image, skips the test (or
//     fails it when TAMAVISOR_REQUIRE_IMAGES=1) if QEMU or the image is
//     missing, and registers [Machine.Close] with t.Cleanup.
package qemu

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Functions wrap them with %w and add detail.
var (
	// ErrUnknownBoard is returned by Lookup for a name not in the table.
	ErrUnknownBoard = errors.New("qemu: unknown board")
	// ErrOption is returned by Board.With for an option the board does
	// not support or a value out of range.
	ErrOption = errors.New("qemu: invalid board option")
)

// Board names of the tier-1 boards.
const (
	VirtARM64 = "qemu-virt-arm64"
	Q35AMD64  = "qemu-q35-amd64"
)

// Board describes how QEMU emulates one tamavisor board and what the
// hypervisor should report about it. It is plain data: the values below are
// the whole difference between the boards as far as the harness is
// concerned.
type Board struct {
	// Name is the board name, as printed by the image ("board: NAME") and
	// used in build/<Name>/tamavisor.elf.
	Name string
	// Arch is the GOARCH of the image ("arm64" or "amd64"), as reported
	// by "info --json".
	Arch string
	// QEMU is the emulator binary, looked up in PATH.
	QEMU string
	// Machine is the -M value without the secure suffix.
	Machine string
	// Accel is the -accel value, or "" to leave QEMU's default.
	Accel string
	// CPU is the -cpu value.
	CPU string
	// MemMiB is the -m value in MiB.
	MemMiB int
	// SMP is the -smp value (number of CPUs).
	SMP int
	// ExtraArgs are appended after -kernel.
	ExtraArgs []string

	// SecureCapable says the machine accepts ",secure=on" (EL3 and the
	// secure world on virt).
	SecureCapable bool
	// Secure adds ",secure=on" to -M. Set it through With(Options{Secure: true}).
	Secure bool

	// RAMBase is the guest-physical address where RAM starts.
	RAMBase uint64
	// RAMSize is MemMiB<<20, the RAM QEMU gives the machine.
	RAMSize uint64
	// Media is how the image reaches the machine: "" (-kernel), "cdrom"
	// (-cdrom, a GRUB ISO) or "disk" (-drive, a raw FAT ESP image).
	Media string
	// ImageFile, if set, is the image to boot, relative to the
	// repository root, instead of build/<Name>/tamavisor.elf.
	ImageFile string
	// Firmware, if set, is passed to -bios (OVMF for UEFI boots).
	Firmware string

	// PoweroffStatus is the exit status of QEMU after a clean "poweroff"
	// in the hypervisor shell (PSCI SYSTEM_OFF on arm64, ACPI S5 on amd64).
	// A write to isa-debug-exit instead exits with (value<<1)|1, which is
	// never 0, so an image can report failure that way.
	PoweroffStatus int
}

// Options are the variations of a board that tests may ask for.
// The zero value means the board as listed.
type Options struct {
	// Secure boots virt with secure=on (the CPU starts at EL3).
	Secure bool
	// SMP overrides the number of CPUs if > 0.
	SMP int
	// MemMiB overrides the RAM size in MiB if > 0; RAMSize follows.
	MemMiB int
	// ExtraArgs are appended after the board's own ExtraArgs.
	ExtraArgs []string
	// Media, ImageFile and Firmware override the Board fields of the
	// same names (boots through GRUB or UEFI).
	Media     string
	ImageFile string
	Firmware  string
	// Limit is the hard wall-clock limit used by Boot (see Config.Limit);
	// 0 means DefaultLimit. Board.With ignores it.
	Limit time.Duration
	// SerialSocket, if set, is the unix socket path Boot puts the serial
	// console on (see Config.SerialSocket); SocketPath gives a short one.
	// Boot creates nothing there itself. Board.With ignores it.
	SerialSocket string
}

// boards is the tier-1 board table.
var boards = []Board{
	{
		Name:           VirtARM64,
		Arch:           "arm64",
		QEMU:           "qemu-system-aarch64",
		Machine:        "virt,gic-version=3,virtualization=on",
		CPU:            "max",
		MemMiB:         1024,
		SMP:            1,
		SecureCapable:  true,
		RAMBase:        0x40000000, // hw/arm/virt.c memmap[VIRT_MEM]
		RAMSize:        1024 << 20,
		PoweroffStatus: 0,
	},
	{
		Name:    Q35AMD64,
		Arch:    "amd64",
		QEMU:    "qemu-system-x86_64",
		Machine: "q35",
		Accel:   "tcg",
		CPU:     "max",
		MemMiB:  1024,
		SMP:     2,
		ExtraArgs: []string{
			"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
			// The demo manifest passes pc-testdev (ports 0xe0-0xe3,
			// MMIO at 0xff000000) through to guest1.
			"-device", "pc-testdev",
			"-no-reboot",
		},
		RAMBase:        0, // below 4 GiB; above-4G RAM only with -m > 2 GiB
		RAMSize:        1024 << 20,
		PoweroffStatus: 0,
	},
}

func (b Board) clone() Board {
	b.ExtraArgs = slices.Clone(b.ExtraArgs)
	return b
}

// Boards returns a copy of the tier-1 board table.
func Boards() []Board {
	out := make([]Board, len(boards))
	for i, b := range boards {
		out[i] = b.clone()
	}
	return out
}

// Lookup returns a copy of the board called name, or an error wrapping
// ErrUnknownBoard that lists the known names.
func Lookup(name string) (Board, error) {
	var names []string
	for _, b := range boards {
		if b.Name == name {
			return b.clone(), nil
		}
		names = append(names, b.Name)
	}
	return Board{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownBoard, name, strings.Join(names, ", "))
}

// With returns the board changed by o. It fails, wrapping ErrOption, if o
// asks for something the board does not have.
func (b Board) With(o Options) (Board, error) {
	b = b.clone()
	if o.Secure {
		if !b.SecureCapable {
			return Board{}, fmt.Errorf("%w: %s has no secure=on", ErrOption, b.Name)
		}
		b.Secure = true
		// With secure=on QEMU offers no PSCI of its own; tamavisor's
		// EL3 shim powers off through Arm semihosting SYS_EXIT, as
		// TF-A's QEMU port does, which QEMU must be told to allow.
		b.ExtraArgs = append(b.ExtraArgs, "-semihosting-config", "enable=on,target=native")
	}
	if o.SMP < 0 || o.MemMiB < 0 {
		return Board{}, fmt.Errorf("%w: smp=%d mem=%dMiB", ErrOption, o.SMP, o.MemMiB)
	}
	if o.SMP > 0 {
		b.SMP = o.SMP
	}
	if o.MemMiB > 0 {
		b.MemMiB = o.MemMiB
		b.RAMSize = uint64(o.MemMiB) << 20
	}
	switch o.Media {
	case "", "cdrom", "disk":
	default:
		return Board{}, fmt.Errorf("%w: media %q", ErrOption, o.Media)
	}
	if o.Media != "" {
		b.Media = o.Media
	}
	if o.ImageFile != "" {
		b.ImageFile = o.ImageFile
	}
	if o.Firmware != "" {
		b.Firmware = o.Firmware
	}
	b.ExtraArgs = append(b.ExtraArgs, o.ExtraArgs...)
	return b, nil
}

// Variant is the board name plus its non-default options, e.g.
// "qemu-virt-arm64+secure", for messages.
func (b Board) Variant() string {
	v := b.Name
	if b.Secure {
		v += "+secure"
	}
	if b.Media != "" {
		v += "+" + b.Media
	}
	if b.Firmware != "" {
		v += "+" + filepath.Base(b.Firmware)
	}
	return v
}

// Args returns QEMU's argument list (without the binary) that boots image
// with the serial port on the chardev spec serial, e.g. "stdio" or
// "unix:/path,server=on,wait=off". The graphical console is off and there is
// no monitor, so the serial port alone owns the chardev.
func (b Board) Args(image, serial string) []string {
	m := b.Machine
	if b.Secure {
		m += ",secure=on"
	}
	args := []string{"-M", m}
	if b.Accel != "" {
		args = append(args, "-accel", b.Accel)
	}
	args = append(args,
		"-cpu", b.CPU,
		"-m", strconv.Itoa(b.MemMiB),
		"-smp", strconv.Itoa(b.SMP),
		"-nographic",
		"-monitor", "none",
		"-serial", serial,
	)
	if b.Firmware != "" {
		args = append(args, "-bios", b.Firmware)
	}
	switch b.Media {
	case "cdrom":
		args = append(args, "-cdrom", image)
	case "disk":
		args = append(args, "-drive", "file="+image+",format=raw,if=ide")
	default:
		args = append(args, "-kernel", image)
	}
	return append(args, b.ExtraArgs...)
}

// CommandLine returns a shell command line that boots image for a person at
// a terminal. The serial port is "mon:stdio", so Ctrl-A X quits QEMU and
// Ctrl-A C switches to the QEMU monitor.
func (b Board) CommandLine(image string) string {
	words := append([]string{b.QEMU}, b.Args(image, "mon:stdio")...)
	for i, w := range words {
		words[i] = shellQuote(w)
	}
	return strings.Join(words, " ")
}

// shellQuote quotes w for a POSIX shell if it needs quoting.
func shellQuote(w string) string {
	if w != "" && strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./,=:@%+-") == "" {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
