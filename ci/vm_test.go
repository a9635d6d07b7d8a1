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
		if m := guestResult.FindAllStringSubmatch(out.Log, -1); len(m) > after {
			return out.Log, m[len(m)-1]
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no GUEST-TEST line from %s after %v; log:\n%s", vm, timeout, out.Log)
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

// TestTestGuest boots qemu-virt-arm64 with the embedded manifest
// (examples/testguest.json by default) and checks, through the shell,
// that the bare-metal test guest's suite passes inside its VM, including
// its hostile part (random HVC/SMC, every trapped debug register, bad
// MMIO, a WFI storm), that the hypervisor counted those exits and kept
// serving, and that "vm reset" reruns the suite.
func TestTestGuest(t *testing.T) {
	m := qemu.Boot(t, qemu.VirtARM64, qemu.Options{SMP: 2})
	s := &session{t: t, m: m}
	s.line(`^board: qemu-virt-arm64$`, bootTimeout)
	s.prompt()

	l := s.vmList()
	if len(l.Rejected) != 0 {
		t.Errorf("manifest VMs rejected: %v", l.Rejected)
	}
	if len(l.VMs) == 0 || l.VMs[0].Name != "testguest" || l.VMs[0].State != "running" {
		t.Fatalf("vm list: want testguest running, got %+v", l.VMs)
	}

	log, res := s.waitGuestResult("testguest", 0, 120*time.Second)
	t.Logf("%s", res[0])
	if res[4] != "0" || res[2] != res[3] || res[2] == "0" {
		t.Errorf("guest suite failed: %s\n%s", res[0], log)
	}
	for _, want := range []string{"hostile-calls", "hostile-sysregs", "hostile-mmio", "hostile-wfi-storm", "timer-rate", "secondary-ran"} {
		if !strings.Contains(log, "testguest: "+want) {
			t.Errorf("guest log lacks %s", want)
		}
	}

	l = s.vmList()
	g := l.VMs[0]
	if g.State != "running" {
		t.Errorf("after the hostile tests the VM is %s", g.State)
	}
	if g.Arch.WFI < 500 || g.Arch.SysRegExits < 20 || g.Stats.Injected < 5 {
		t.Errorf("exit counters too low for the hostile run: wfi %d sysreg %d injected %d",
			g.Arch.WFI, g.Arch.SysRegExits, g.Stats.Injected)
	}

	// The shell still answers, and a reset reruns the suite.
	s.send("vm reset testguest")
	s.line(`^vm testguest: running$`, cmdTimeout)
	s.prompt()
	_, res2 := s.waitGuestResult("testguest", 1, 120*time.Second)
	if res2[4] != "0" {
		t.Errorf("guest suite after reset: %s", res2[0])
	}
	if l := s.vmList(); l.VMs[0].Stats.Starts != 2 {
		t.Errorf("starts after reset = %d, want 2", l.VMs[0].Stats.Starts)
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
	m := qemu.Boot(b, qemu.VirtARM64, qemu.Options{ExtraArgs: []string{"-icount", "shift=0"}})
	if _, err := m.ExpectLine(`^board: qemu-virt-arm64$`, bootTimeout); err != nil {
		b.Fatal(err)
	}
	if _, err := m.Expect(prompt, cmdTimeout); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(300 * time.Second)
	for {
		if err := m.Send("vm log testguest"); err != nil {
			b.Fatal(err)
		}
		if sub, err := m.ExpectRegexp(benchLine, 5*time.Second); err == nil {
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
