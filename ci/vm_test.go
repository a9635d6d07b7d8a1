// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package ci_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tamavisor/tamavisor/ci/qemu"
)

// vmList is the output of "vm list --json".
type vmList struct {
	VMs []struct {
		ID    int    `json:"id"`
		Name  string `json:"name"`
		State string `json:"state"`
		VCPUs []struct {
			PCPU  int    `json:"pcpu"`
			State string `json:"state"`
		} `json:"vcpus"`
		Exits uint64 `json:"exits"`
		Stats struct {
			Injected uint64 `json:"injected_faults"`
			Starts   uint64 `json:"starts"`
		} `json:"stats"`
		Arch struct {
			WFI         uint64 `json:"wfi"`
			SysRegExits uint64 `json:"sysreg_exits"`
			MMIOExits   uint64 `json:"mmio_exits"`
			HostIRQs    uint64 `json:"host_irqs"`
		} `json:"arch"`
	} `json:"vms"`
	Rejected []string `json:"rejected"`
}

var guestResult = regexp.MustCompile(`GUEST-TEST (\S+) TOTAL#(\d+) SUCCESS#(\d+) FAIL#(\d+)`)

// waitGuestResult polls "vm log <vm>" until the log holds more than
// `after` result lines of the test guest, and returns the log and the
// last one.
func (s *session) waitGuestResult(vm string, after int, timeout time.Duration) (string, []string) {
	s.t.Helper()
	var last []string
	log := s.pollGuestLog(vm, "no GUEST-TEST line", timeout, func(log string) bool {
		m := guestResult.FindAllStringSubmatch(log, -1)
		if len(m) > after {
			last = m[len(m)-1]
			return true
		}
		return false
	})
	return log, last
}

// pollGuestLog runs "vm log --json <vm>" every second until done(log)
// is true, and returns that log; after timeout it fails the test with
// what and the log.
func (s *session) pollGuestLog(vm, what string, timeout time.Duration, done func(log string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s.send("vm log --json " + vm)
		js := s.line(`^\{"log":.*\}$`, cmdTimeout)[0]
		s.prompt()
		var out struct {
			Log string `json:"log"`
		}
		if err := json.Unmarshal([]byte(js), &out); err != nil {
			s.t.Fatalf("vm log --json: %v in %q", err, js)
		}
		if done(out.Log) {
			return out.Log
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: %s after %v; log:\n%s", vm, what, timeout, out.Log)
		}
		time.Sleep(time.Second)
	}
}

func (s *session) vmList() vmList {
	s.t.Helper()
	s.send("vm list --json")
	js := s.line(`^\{"rejected":.*\}$`, cmdTimeout)[0]
	s.prompt()
	var l vmList
	if err := json.Unmarshal([]byte(js), &l); err != nil {
		s.t.Fatalf("vm list --json: %v in %q", err, js)
	}
	return l
}

// findVM returns the VM called name in l, failing the test without it.
func (s *session) findVM(l vmList, name string) int {
	s.t.Helper()
	for i, vm := range l.VMs {
		if vm.Name == name {
			return i
		}
	}
	s.t.Fatalf("vm list has no %s: %+v", name, l.VMs)
	return -1
}

// linuxPrompt is the prompt of the Linux demo guest's shell
// (ci/guests/linux/init sets PS1).
const linuxPrompt = `linux# `

var archTimerLine = regexp.MustCompile(`(?m)^\s*\d+:\s+(\d+)\s+GICv3\s+27\s+Level\s+arch_timer`)

// linuxTimerCount runs "cat /proc/interrupts" in the attached Linux
// console and returns the arch_timer (virtual timer, PPI 27) count.
func (s *session) linuxTimerCount() uint64 {
	s.t.Helper()
	s.send("cat /proc/interrupts")
	sub, err := s.m.ExpectRegexp(archTimerLine, cmdTimeout)
	if err != nil {
		s.t.Fatalf("no arch_timer line in /proc/interrupts: %v", err)
	}
	if _, err := s.m.Expect(linuxPrompt, cmdTimeout); err != nil {
		s.t.Fatal(err)
	}
	var n uint64
	fmt.Sscan(sub[1], &n)
	return n
}

// attachLinux attaches the operator console to the Linux VM and waits for
// its shell prompt.
func (s *session) attachLinux(timeout time.Duration) {
	s.t.Helper()
	s.send("vm console linux")
	s.line(`^\[attached to linux; Ctrl-\] detaches\]`, cmdTimeout)
	deadline := time.Now().Add(timeout)
	for {
		s.sendRaw([]byte("\r"))
		if _, err := s.m.Expect(linuxPrompt, 5*time.Second); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no Linux shell prompt after %v", timeout)
		}
	}
}

func (s *session) detach() {
	s.t.Helper()
	s.sendRaw([]byte{0x1d})
	s.line(`^\[detached from `, cmdTimeout)
	s.prompt()
}

// TestDemo boots qemu-virt-arm64 with the embedded manifest
// (examples/demo.json by default: Linux and the test guest side by side)
// and checks through the shell that:
//   - the bare-metal test guest's suite passes inside its VM, including
//     its sweep of guest-physical space (the Linux VM's and the
//     hypervisor's memory fault) and its hostile part (random HVC/SMC,
//     every trapped debug register, bad MMIO, a WFI storm), and the
//     hypervisor counted those exits and kept serving;
//   - Linux reaches its shell, and through "vm console" answers uname -a
//     and shows its arch timer ticking in /proc/interrupts;
//   - "vm reset" reruns the test guest's suite while Linux keeps running;
//   - errors are one line, and stop/start work.
//
// With a manifest without Linux (MANIFEST=examples/testguest.json) the
// Linux steps are skipped and said so.
func TestDemo(t *testing.T) {
	m := qemu.Boot(t, qemu.VirtARM64, qemu.Options{SMP: 2, Limit: 5 * time.Minute})
	s := &session{t: t, m: m}
	s.line(`^board: qemu-virt-arm64$`, bootTimeout)
	s.prompt()

	l := s.vmList()
	if len(l.Rejected) != 0 {
		t.Errorf("manifest VMs rejected: %v", l.Rejected)
	}
	tg := s.findVM(l, "testguest")
	hasLinux := false
	for _, vm := range l.VMs {
		if vm.State != "running" {
			t.Errorf("vm %s is %s after boot, want running", vm.Name, vm.State)
		}
		hasLinux = hasLinux || vm.Name == "linux"
	}

	log, res := s.waitGuestResult("testguest", 0, 180*time.Second)
	t.Logf("%s", res[0])
	if res[4] != "0" || res[2] != res[3] || res[2] == "0" {
		t.Errorf("guest suite failed: %s\n%s", res[0], log)
	}
	for _, want := range []string{"fault-sweep", "passthrough-mmio", "passthrough-irq", "hostile-calls", "hostile-sysregs", "hostile-mmio", "hostile-wfi-storm", "timer-rate", "secondary-ran"} {
		if !strings.Contains(log, "testguest: "+want) {
			t.Errorf("guest log lacks %s", want)
		}
	}

	l = s.vmList()
	g := l.VMs[tg]
	if g.State != "running" {
		t.Errorf("after the hostile tests the VM is %s", g.State)
	}
	// The passthrough RTC's two alarms came through the physical GIC.
	if g.Arch.HostIRQs < 2 {
		t.Errorf("host interrupts forwarded to the test guest: %d, want >= 2", g.Arch.HostIRQs)
	}
	if g.Arch.WFI < 500 || g.Arch.SysRegExits < 20 || g.Stats.Injected < 5 {
		t.Errorf("exit counters too low for the hostile run: wfi %d sysreg %d injected %d",
			g.Arch.WFI, g.Arch.SysRegExits, g.Stats.Injected)
	}

	var ticks uint64
	if hasLinux {
		s.attachLinux(180 * time.Second)
		s.send("uname -a")
		s.line(`^Linux tamavisor-linux \S+ .* aarch64`, cmdTimeout)
		if _, err := m.Expect(linuxPrompt, cmdTimeout); err != nil {
			t.Fatal(err)
		}
		t1 := s.linuxTimerCount()
		s.send("sleep 1")
		if _, err := m.Expect(linuxPrompt, cmdTimeout); err != nil {
			t.Fatal(err)
		}
		ticks = s.linuxTimerCount()
		t.Logf("linux arch_timer interrupts: %d, then %d", t1, ticks)
		if ticks <= t1 {
			t.Errorf("arch_timer count did not advance: %d then %d", t1, ticks)
		}
		s.detach()
		if lin := s.vmList().VMs[s.findVM(l, "linux")]; lin.State != "running" || lin.Stats.Injected != 0 {
			t.Errorf("linux vm: state %s, %d injected faults", lin.State, lin.Stats.Injected)
		}
		// Linux is pinned to CPU 1 (examples/demo.json): the secondary
		// CPU is online and counted its own guest runs.
		var cpus struct {
			CPUs []struct {
				CPU        int    `json:"cpu"`
				Online     bool   `json:"online"`
				GuestRuns  uint64 `json:"guest_runs"`
				PolledIRQs uint64 `json:"polled_irqs"`
			} `json:"cpus"`
		}
		s.send("cpus --json")
		js := s.line(`^\{"cpus":.*\}$`, cmdTimeout)[0]
		s.prompt()
		if err := json.Unmarshal([]byte(js), &cpus); err != nil {
			t.Fatalf("cpus --json: %v in %q", err, js)
		}
		lin := s.vmList().VMs[s.findVM(l, "linux")]
		t.Logf("cpus: %+v; linux vCPUs %+v", cpus.CPUs, lin.VCPUs)
		// The test guest's third RTC alarm fired while CPU 0 ran no
		// guest: the poll found it.
		if len(cpus.CPUs) == 0 || cpus.CPUs[0].PolledIRQs == 0 {
			t.Errorf("no physical interrupt was found by polling on CPU 0: %+v", cpus.CPUs)
		}
		if len(lin.VCPUs) > 0 && lin.VCPUs[0].PCPU == 1 {
			if len(cpus.CPUs) < 2 || !cpus.CPUs[1].Online || cpus.CPUs[1].GuestRuns < lin.Exits/2 {
				t.Errorf("linux is pinned to CPU 1 but CPU 1 ran %+v for %d linux exits", cpus.CPUs, lin.Exits)
			}
		}
	} else {
		t.Logf("SKIPPED the Linux steps: the embedded manifest has no linux VM")
	}

	// The shell still answers, and a reset reruns the suite.
	s.send("vm reset testguest")
	s.line(`^vm testguest: running$`, cmdTimeout)
	s.prompt()
	_, res2 := s.waitGuestResult("testguest", 1, 180*time.Second)
	if res2[4] != "0" {
		t.Errorf("guest suite after reset: %s", res2[0])
	}
	if l := s.vmList(); l.VMs[tg].Stats.Starts != 2 {
		t.Errorf("starts after reset = %d, want 2", l.VMs[tg].Stats.Starts)
	}

	// Linux kept running through the test guest's reset.
	if hasLinux {
		s.attachLinux(cmdTimeout)
		s.send("echo alive-$((6*7))")
		s.line(`^alive-42`, cmdTimeout)
		if _, err := m.Expect(linuxPrompt, cmdTimeout); err != nil {
			t.Fatal(err)
		}
		if n := s.linuxTimerCount(); n <= ticks {
			t.Errorf("linux arch_timer count after the reset %d, before %d", n, ticks)
		}
		s.detach()
	}

	// Errors are one line and change nothing.
	s.send("vm start nosuchvm")
	s.line(`error: .*no such vm`, cmdTimeout)
	s.prompt()
	s.send("vm start testguest")
	s.line(`error: .*running`, cmdTimeout)
	s.prompt()

	// Stop, then start again.
	s.send("vm stop testguest")
	s.line(`^vm testguest: stopped$`, cmdTimeout)
	s.prompt()
	s.send("vm start testguest")
	s.line(`^vm testguest: running$`, cmdTimeout)
	s.prompt()

	s.send("poweroff")
	if _, err := m.Wait(offTimeout); err != nil {
		t.Fatalf("poweroff: %v", err)
	}
}

var benchLine = regexp.MustCompile(`BENCH null-hvc (\d+\.\d+) ns/op`)

// BenchmarkNullHVC reports the instruction count of a null hypercall
// round trip (HC_VERSION: guest HVC, world switch to EL2, exit dispatch,
// ERET back) on qemu-virt-arm64. QEMU runs with "-icount shift=0", where
// every guest instruction advances virtual time by 1 ns, and the test
// guest times 20000 calls on its virtual counter, so ns/op is insn/op.
// The counter ticks every 16 ns (62.5 MHz), which the 20000-call average
// makes negligible. It boots once whatever b.N is:
//
//	TAMAVISOR_REQUIRE_IMAGES=1 go test -run '^$' -bench NullHVC -benchtime 1x ./ci/
func BenchmarkNullHVC(b *testing.B) {
	benchGuestLine(b, qemu.VirtARM64, "testguest", benchLine)
}

var benchLineX86 = regexp.MustCompile(`BENCH null-hypercall ([0-9.]+) tsc/op`)

// BenchmarkNullHypercallX86 is BenchmarkNullHVC on qemu-q35-amd64: the
// x86 test guest's VMMCALL HC_VERSION round trip through the SVM backend,
// in instructions under -icount shift=0 (the TSC then counts one tick per
// instruction).
func BenchmarkNullHypercallX86(b *testing.B) {
	benchGuestLine(b, qemu.Q35AMD64, "guest1", benchLineX86)
}

// benchGuestLine boots board under -icount shift=0 with one CPU and
// reports the figure of the guest's BENCH line as insn/op. One CPU:
// under -icount QEMU runs all vCPUs round robin on one virtual clock, so
// another CPU's instructions would count towards the guest's figure (a
// VM pinned to CPU 1 is rejected; vm must run on CPU 0).
func benchGuestLine(b *testing.B, board string, vm string, line *regexp.Regexp) {
	m := qemu.Boot(b, board, qemu.Options{SMP: 1, ExtraArgs: []string{"-icount", "shift=0"}, Limit: 5 * time.Minute})
	if _, err := m.ExpectLine(`^board: `+board+`$`, bootTimeout); err != nil {
		b.Fatal(err)
	}
	if _, err := m.Expect(prompt, cmdTimeout); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(300 * time.Second)
	for {
		if err := m.Send("vm log " + vm); err != nil {
			b.Fatal(err)
		}
		if sub, err := m.ExpectRegexp(line, 5*time.Second); err == nil {
			var v float64
			if _, err := fmt.Sscan(sub[1], &v); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(v, "insn/op")
			b.ReportMetric(0, "ns/op")
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("no BENCH line from the test guest")
		}
		time.Sleep(2 * time.Second)
	}
	m.Send("poweroff")
	m.Wait(offTimeout)
}
