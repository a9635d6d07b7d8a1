// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package ci_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tamavisor/tamavisor/ci/qemu"
	"github.com/tamavisor/tamavisor/hotpatch/payload"
)

// The fixture's answers for the bytes 1..64 (ci/guests/testguest/hpfix.go):
// Adler-32, and version 0's bug that leaves the last byte out.
const (
	hpfixHex   = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40"
	hpfixGood  = "0xb3000821"
	hpfixBuggy = "0xaadf07e1"
)

// waitGuestLog polls "vm log VM" until re matches it and returns the
// last match.
func (s *session) waitGuestLog(vm, re string, timeout time.Duration) []string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	var last []string
	s.pollGuestLog(vm, fmt.Sprintf("no %q in the log", re), timeout, func(log string) bool {
		m := rx.FindAllStringSubmatch(log, -1)
		if len(m) > 0 {
			last = m[len(m)-1]
		}
		return len(m) > 0
	})
	return last
}

// hvctlBinary builds cmd/hvctl once for the test process.
var hvctlBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "hvctl-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "hvctl")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/hvctl")
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/hvctl: %v\n%s", err, b)
	}
	return out, nil
})

// hvctl hands the console to the hvctl binary for one command (the
// harness detaches from QEMU's serial socket and attaches again after)
// and returns what hvctl printed. It fails the test unless hvctl exits 0.
func (s *session) hvctl(args ...string) string {
	s.t.Helper()
	bin, err := hvctlBinary()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.m.Detach(); err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"-console", "unix:" + s.m.SerialSocket(), "-timeout", "60s"}, args...)...)
	out, err := cmd.CombinedOutput()
	if aerr := s.m.Attach(); aerr != nil {
		s.t.Fatal(aerr)
	}
	if err != nil {
		s.t.Fatalf("hvctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// hpfixConsistent checks every "hpfix version V sum S" line of a log: a
// guest's hypercall runs in one vCPU exit, which a patch never splits,
// so the version and the sum come from one build: version 0 with the
// buggy sum, 1 and 2 with the right one.
func hpfixConsistent(t *testing.T, log string) int {
	t.Helper()
	n := 0
	for _, m := range regexp.MustCompile(`hpfix version (\d+) sum (0x[0-9a-f]+)`).FindAllStringSubmatch(log, -1) {
		v, _ := strconv.Atoi(m[1])
		if want := map[bool]string{true: hpfixBuggy, false: hpfixGood}[v == 0]; m[2] != want || v > 2 {
			t.Errorf("guest saw version %d with sum %s", v, m[2])
		}
		n++
	}
	return n
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// run sends a shell command and returns the line matching re.
func (s *session) run(cmd, re string, d time.Duration) []string {
	s.t.Helper()
	s.send(cmd)
	got := s.line(re, d)
	s.prompt()
	return got
}

// TestHotpatchApply is the live-patch acceptance test on both tier-1
// boards (make hpfix builds its images and payloads). The running image
// is the hpfixture test image, version 0, whose Checksum has a bug seen
// from the shell ("hpfix sum") and from a guest (HC_HPFIX_SUM, which the
// test guest calls every 100 ms and logs). mkpatch built hpfix-v1 and
// hpfix-v2 from two fixed builds of the same tree. The test uploads
// them with hvctl over QEMU's serial socket, applies v1 while the VMs run and sees both the shell and the
// guest get the fixed answer; runs the patched recursive, allocating,
// GC-running Walk deep; checks that a second payload touching the same
// functions and unloading an applied payload are refused; replaces v1 by
// v2; reverts; applies and reverts v1 1000 times under GC and Walk load
// while the guest keeps calling; and unloads everything. The guest must
// still be running at the end.
func TestHotpatchApply(t *testing.T) {
	for _, c := range []struct{ board, vm string }{
		{qemu.Q35AMD64, "guest1"},
		{qemu.VirtARM64, "testguest"},
	} {
		t.Run(c.board, func(t *testing.T) {
			dir := filepath.Join("build", "hpfix", c.board)
			var raw [2][]byte
			for i, f := range []string{"hpfix-v1.tvp", "hpfix-v2.tvp"} {
				b, err := os.ReadFile(filepath.Join("..", dir, f))
				if err != nil {
					if qemu.RequireImages() {
						t.Fatalf("%v (make hpfix; %s is set)", err, qemu.RequireEnv)
					}
					t.Skipf("SKIP: %v (make hpfix)", err)
				}
				raw[i] = b
			}
			v1, err := payload.Parse(raw[0][:len(raw[0])-payload.TrailerSize])
			if err != nil {
				t.Fatalf("hpfix-v1: %v", err)
			}
			m := qemu.Boot(t, c.board, qemu.Options{ImageFile: filepath.Join(dir, "v0", "tamavisor.elf"), Limit: 15 * time.Minute,
				SerialSocket: qemu.SocketPath(t)})
			s := &session{t: t, m: m}
			s.line(`^tamavisor: hpfixture: version 0`, bootTimeout)
			s.line(`^tamavisor: hotpatch: build-id [0-9a-f]+, \d+ symbols, 1 keys, code arena 0x`, bootTimeout)
			s.prompt()

			// The bug, from the shell and from the guest.
			if got := s.run("hpfix sum "+hpfixHex, `^hpfix: .*`, cmdTimeout)[0]; got != "hpfix: version 0 sum "+hpfixBuggy {
				t.Fatalf("before the patch: %q", got)
			}
			s.waitGuestLog(c.vm, `testguest: hpfix version 0 sum `+hpfixBuggy, 4*time.Minute)

			// hvctl uploads, checks and applies v1 while the VMs run.
			for _, name := range []string{"hpfix-v1", "hpfix-v2"} {
				file := filepath.Join("..", dir, name+".tvp")
				if ans := s.hvctl("patch", "upload", name, file); ans != name+": LOADED rc=OK" {
					t.Fatalf("hvctl patch upload %s: %q", name, ans)
				}
				if ans := s.hvctl("patch", "check", name, "-wait"); ans != name+": CHECKED rc=OK" {
					t.Fatalf("hvctl patch check %s: %q", name, ans)
				}
			}
			if ans := s.hvctl("patch", "apply", "hpfix-v1", "-wait"); ans != "hpfix-v1: APPLIED rc=OK" {
				t.Fatalf("hvctl patch apply hpfix-v1: %q", ans)
			}
			if got := s.run("hpfix sum "+hpfixHex, `^hpfix: .*`, cmdTimeout)[0]; got != "hpfix: version 1 sum "+hpfixGood {
				t.Errorf("after apply: %q", got)
			}
			s.waitGuestLog(c.vm, `testguest: hpfix version 1 sum `+hpfixGood, time.Minute)

			// The patched Walk, deep, with the collector running every
			// 64 levels: payload frames are scanned and copied.
			if got := s.run("hpfix walk 20000 3", `^hpfix: .*walk.*`, time.Minute)[0]; !strings.HasPrefix(got, "hpfix: version 1 walk depth 20000 rounds 3 bad 0 ") {
				t.Errorf("walk: %q", got)
			}

			// Refused, nothing changes: a second payload on the same
			// functions, and unloading an applied payload.
			if ans := s.act("apply", "hpfix-v2"); !strings.HasPrefix(ans, "hpfix-v2: CHECKED rc=EEXIST") {
				t.Errorf("apply hpfix-v2 over hpfix-v1: %q, want CHECKED rc=EEXIST", ans)
			}
			s.send("patch unload hpfix-v1")
			if got := s.line(`^(error: .*|hpfix-v1: .*)$`, cmdTimeout)[0]; !strings.Contains(got, "EINVAL") {
				t.Errorf("unload of an applied payload: %q", got)
			}
			s.prompt()
			if got := s.run("hpfix sum "+hpfixHex, `^hpfix: .*`, cmdTimeout)[0]; got != "hpfix: version 1 sum "+hpfixGood {
				t.Errorf("after the refusals: %q", got)
			}

			// REPLACE: v1 reverted and v2 applied in one step.
			if ans := s.act("replace", "hpfix-v2"); ans != "hpfix-v2: APPLIED rc=OK" {
				t.Fatalf("replace: %q", ans)
			}
			if ans := s.run("patch get hpfix-v1", `^hpfix-v1: .*`, cmdTimeout)[0]; ans != "hpfix-v1: CHECKED rc=OK" {
				t.Errorf("after replace, hpfix-v1: %q", ans)
			}
			if got := s.run("hpfix sum "+hpfixHex, `^hpfix: .*`, cmdTimeout)[0]; got != "hpfix: version 2 sum "+hpfixGood {
				t.Errorf("after replace: %q", got)
			}
			s.waitGuestLog(c.vm, `testguest: hpfix version 2 sum `+hpfixGood, time.Minute)

			// REVERT: the bug is back.
			if ans := s.act("revert", "hpfix-v2"); ans != "hpfix-v2: CHECKED rc=OK" {
				t.Fatalf("revert: %q", ans)
			}
			if got := s.run("hpfix sum "+hpfixHex, `^hpfix: .*`, cmdTimeout)[0]; got != "hpfix: version 0 sum "+hpfixBuggy {
				t.Errorf("after revert: %q", got)
			}

			// 1000 apply/revert cycles under GC and Walk load.
			got := s.run("hpfix-stress hpfix-v1 1000", `^(hpfix: stress.*|error: .*)$`, 8*time.Minute)[0]
			if m := regexp.MustCompile(`^hpfix: stress 1000 cycles bad 0 walks (\d+) \(mixed (\d+)\) gcs [1-9]\d*$`).FindStringSubmatch(got); m == nil {
				t.Errorf("stress: %q", got)
			} else if w, mixed := atoi(m[1]), atoi(m[2]); w-mixed < 40 {
				// Every 50 cycles the stress waits for a whole walk in
				// each version: at least 40 are compared.
				t.Errorf("stress: %q: %d walks compared, want at least 40", got, w-mixed)
			}
			stats := s.run("patch stats --json", `^\{"applies":.*\}$`, cmdTimeout)[0]
			type kind struct {
				N           uint64
				MeanQuiesce int64 `json:"mean_quiesce_ns"`
				MaxQuiesce  int64 `json:"max_quiesce_ns"`
				MeanPause   int64 `json:"mean_pause_ns"`
				MaxPause    int64 `json:"max_pause_ns"`
			}
			var st struct {
				Applies, Reverts       uint64
				MaxPause               int64 `json:"max_pause_ns"`
				Modules                int
				Apply, Revert, Replace kind
			}
			if err := json.Unmarshal([]byte(stats), &st); err != nil {
				t.Fatalf("patch stats: %v in %q", err, stats)
			}
			if st.Applies < 1002 || st.Reverts < 1001 || st.Modules != 2 || st.MaxPause <= 0 ||
				st.Apply.N < 1001 || st.Revert.N < 1001 || st.Replace.N != 1 || st.Apply.MaxPause <= 0 || st.Revert.MaxPause <= 0 {
				t.Errorf("patch stats: %+v", st)
			}
			// The pause benchmark (README, "Live patching"): the
			// image's monotonic clock around the stopped section.
			d := func(ns int64) time.Duration { return time.Duration(ns) }
			for _, k := range []struct {
				name string
				k    kind
			}{{"apply", st.Apply}, {"revert", st.Revert}, {"replace", st.Replace}} {
				t.Logf("BENCH %s %s: %d stops of %d functions, quiesce mean %v max %v, pause mean %v max %v",
					c.board, k.name, k.k.N, len(v1.Funcs), d(k.k.MeanQuiesce), d(k.k.MaxQuiesce), d(k.k.MeanPause), d(k.k.MaxPause))
			}

			// Unload both; the guest is still running and calling.
			for _, name := range []string{"hpfix-v1", "hpfix-v2"} {
				if ans := s.act("unload", name); ans != name+": unloaded" {
					t.Errorf("unload %s: %q", name, ans)
				}
			}
			s.waitGuestLog(c.vm, fmt.Sprintf(`testguest: hpfix version 0 sum %s calls (\d+)`, hpfixBuggy), time.Minute)
			if n := hpfixConsistent(t, s.pollGuestLog(c.vm, "the guest's log", cmdTimeout, func(string) bool { return true })); n < 4 {
				t.Errorf("%d hpfix lines in the guest's log, want the 4 versions seen at least", n)
			}
			list := s.vmList()
			if i := s.findVM(list, c.vm); i < 0 || list.VMs[i].State != "running" {
				t.Errorf("%s not running at the end: %+v", c.vm, list)
			}
		})
	}
}

// TestHotpatchBoot gives the hpfixture image (version 0) live patches as
// boot payloads in QEMU's fw_cfg (opt/tamavisor/hotpatch/NAME): the
// board's hpfix-v1, applied before any guest runs, so the guest's first
// hypercall already gets the fixed answer; and the other board's
// hpfix-v1, refused (ENOEXEC: another architecture and build-id) and left
// LOADED while the boot goes on. A boot payload reverts like any other.
func TestHotpatchBoot(t *testing.T) {
	boards := []struct {
		name, board, vm, other string
		grub                   bool // payloads as GRUB modules (build/hpfix/hpfix-grub.iso), else fw_cfg
	}{
		{qemu.Q35AMD64, qemu.Q35AMD64, "guest1", qemu.VirtARM64, false},
		{qemu.Q35AMD64 + "-grub-modules", qemu.Q35AMD64, "guest1", qemu.VirtARM64, true},
		{qemu.VirtARM64, qemu.VirtARM64, "testguest", qemu.Q35AMD64, false},
	}
	for _, c := range boards {
		t.Run(c.name, func(t *testing.T) {
			root, err := qemu.RepoRoot()
			if err != nil {
				t.Fatal(err)
			}
			fix := filepath.Join(root, "build", "hpfix", c.board, "hpfix-v1.tvp")
			other := filepath.Join(root, "build", "hpfix", c.other, "hpfix-v1.tvp")
			need := []string{fix, other}
			if c.grub {
				need = append(need, filepath.Join(root, "build", "hpfix", "hpfix-grub.iso"))
			}
			for _, f := range need {
				if _, err := os.Stat(f); err != nil {
					if qemu.RequireImages() {
						t.Fatalf("%v (make hpfix; %s is set)", err, qemu.RequireEnv)
					}
					t.Skipf("SKIP: %v (make hpfix)", err)
				}
			}
			opts := qemu.Options{
				ImageFile: filepath.Join("build", "hpfix", c.board, "v0", "tamavisor.elf"),
				Limit:     5 * time.Minute,
				ExtraArgs: []string{
					"-fw_cfg", "name=opt/tamavisor/hotpatch/hpfix-v1,file=" + fix,
					"-fw_cfg", "name=opt/tamavisor/hotpatch/other-arch,file=" + other,
				},
			}
			timeout := bootTimeout
			if c.grub {
				// The same two payloads as Multiboot2 modules
				// hotpatch/hpfix-v1 and hotpatch/other-arch
				// (ci/grub/hpfix.cfg), SeaBIOS and GRUB from the ISO.
				opts = qemu.Options{Media: "cdrom", ImageFile: filepath.Join("build", "hpfix", "hpfix-grub.iso"), Limit: 5 * time.Minute}
				timeout = firmwareBootTimeout
			}
			m := qemu.Boot(t, c.board, opts)
			s := &session{t: t, m: m}
			s.line(`^tamavisor: hpfixture: version 0`, timeout)
			s.line(`^tamavisor: hotpatch: boot payload hpfix-v1 applied`, bootTimeout)
			if got := s.line(`^tamavisor: hotpatch: boot payload other-arch .*`, bootTimeout)[0]; !strings.Contains(got, "refused") || !strings.Contains(got, "ENOEXEC") {
				t.Errorf("the other board's payload: %q, want refused with ENOEXEC", got)
			}
			s.prompt()

			if got := s.run("hpfix sum "+hpfixHex, `^hpfix: .*`, cmdTimeout)[0]; got != "hpfix: version 1 sum "+hpfixGood {
				t.Errorf("with the boot payload: %q", got)
			}
			if ans := s.run("patch get other-arch", `^(other-arch: .*|error: .*)$`, cmdTimeout)[0]; !strings.HasPrefix(ans, "other-arch: LOADED rc=ENOEXEC") {
				t.Errorf("the refused boot payload: %q, want LOADED rc=ENOEXEC", ans)
			}
			// The guest never saw the bug: its first answer is the fix.
			first := s.waitGuestLog(c.vm, `testguest: hpfix version (\d+) sum (0x[0-9a-f]+) calls 1\b`, 4*time.Minute)
			if first[1] != "1" || first[2] != hpfixGood {
				t.Errorf("the guest's first answer: version %s sum %s, want version 1 sum %s", first[1], first[2], hpfixGood)
			}
			if ans := s.act("revert", "hpfix-v1"); ans != "hpfix-v1: CHECKED rc=OK" {
				t.Fatalf("revert of the boot payload: %q", ans)
			}
			if got := s.run("hpfix sum "+hpfixHex, `^hpfix: .*`, cmdTimeout)[0]; got != "hpfix: version 0 sum "+hpfixBuggy {
				t.Errorf("after revert: %q", got)
			}
		})
	}
}
