// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package ci_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tamavisor/tamavisor/ci/qemu"
)

// x86Arch is the "arch" object of an amd64 VM in "vm list --json".
type x86Arch struct {
	Vendor      string            `json:"vendor"`
	ByReason    map[string]uint64 `json:"exits_by_reason"`
	NPFaults    uint64            `json:"npf_faults"`
	MSRFaults   uint64            `json:"msr_faults"`
	Unclaimed   uint64            `json:"unclaimed_io"`
	Triples     uint64            `json:"triple_faults"`
	Preemptions uint64            `json:"preemptions"`
	Kicks       uint64            `json:"kicks"`
	Interrupts  uint64            `json:"interrupts"`
}

type x86VM struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	Exits  uint64 `json:"exits"`
	VCPUs  []struct {
		PCPU  int    `json:"pcpu"`
		State string `json:"state"`
	} `json:"vcpus"`
	Arch  x86Arch `json:"arch"`
	Stats struct {
		Hypercalls    uint64 `json:"hypercalls"`
		BadHypercalls uint64 `json:"bad_hypercalls"`
		Injected      uint64 `json:"injected_faults"`
		Starts        uint64 `json:"starts"`
	} `json:"stats"`
}

func (s *session) x86VMs() map[string]x86VM {
	s.t.Helper()
	s.send("vm list --json")
	js := s.line(`^\{"rejected":.*\}$`, cmdTimeout)[0]
	s.prompt()
	var l struct {
		VMs      []x86VM  `json:"vms"`
		Rejected []string `json:"rejected"`
	}
	if err := json.Unmarshal([]byte(js), &l); err != nil {
		s.t.Fatalf("vm list --json: %v in %q", err, js)
	}
	if len(l.Rejected) != 0 {
		s.t.Errorf("rejected VMs: %v", l.Rejected)
	}
	out := map[string]x86VM{}
	for _, vm := range l.VMs {
		out[vm.Name] = vm
	}
	return out
}

// TestX86VMs boots qemu-q35-amd64 (TCG, -cpu max: AMD SVM with nested
// paging, -smp 2) with its embedded manifest (examples/q35-demo.json):
// two VMs of the x86-64 test guest, guest1 pinned to the boot CPU and
// guest2 to the application processor, started through the PVH entry.
// It checks that
//   - the AP comes up (INIT-SIPI-SIPI) and runs guest2's vCPU: the AP
//     counts its own guest runs, and they cover guest2's exits;
//   - both suites pass concurrently, through the SVM backend, including
//     the sweep of guest-physical space (the other VM's memory, the
//     hypervisor's and the rest of host RAM all fault with #GP) and the
//     hostile part (random hypercalls, unassigned ports, every MSR
//     range, an interrupt storm);
//   - guest2, which triple-faults after its suite, is stopped and
//     reported, while guest1 keeps running (its exit count grows);
//   - "vm reset guest2" runs its suite again, and vm stop/start/log
//     behave as on arm64.
func TestX86VMs(t *testing.T) {
	m := qemu.Boot(t, qemu.Q35AMD64, qemu.Options{SMP: 2, Limit: 5 * time.Minute})
	s := &session{t: t, m: m}
	s.line(`^board: qemu-q35-amd64$`, bootTimeout)
	s.line(`^tamavisor: SVM with nested paging`, bootTimeout)
	s.line(`^tamavisor: smp: 2 of 2 CPUs run guests`, bootTimeout)
	s.line(`^tamavisor: manifest and images from embedded bundle`, bootTimeout)
	s.prompt()

	vms := s.x86VMs()
	for _, name := range []string{"guest1", "guest2"} {
		if vm, ok := vms[name]; !ok || vm.Arch.Vendor != "svm" {
			t.Fatalf("vm %s: %+v", name, vm)
		}
	}
	for _, name := range []string{"guest1", "guest2"} {
		log, res := s.waitGuestResult(name, 0, 240*time.Second)
		t.Logf("%s: %s", name, res[0])
		if res[4] != "0" || res[2] != res[3] || res[2] == "0" {
			t.Errorf("%s suite failed: %s\n%s", name, res[0], log)
		}
		for _, want := range []string{"pvh-start-info", "console", "hc-version", "cpuid-hidden", "msr-pat", "fault-sweep",
			"timer-rate", "hlt-wakeup", "self-ipi", "hostile-hypercalls", "hostile-ports", "hostile-msrs", "hostile-irq-storm"} {
			if !strings.Contains(log, "testguest: "+want+" ") {
				t.Errorf("%s log lacks %s", name, want)
			}
		}
		// guest1 reaches pc-testdev through its passthrough ports and
		// MMIO window; guest2, which has neither, must not.
		pt := map[string]string{"guest1": "passthrough", "guest2": "passthrough-denied"}[name]
		if !regexp.MustCompile(`testguest: ` + pt + ` +ok`).MatchString(log) {
			t.Errorf("%s log lacks %q ok", name, pt)
		}
	}

	// guest2 ran on the AP: the AP's own run count covers its exits.
	var cpus struct {
		CPUs []struct {
			CPU       int    `json:"cpu"`
			Online    bool   `json:"online"`
			GuestRuns uint64 `json:"guest_runs"`
		} `json:"cpus"`
	}
	vms = s.x86VMs() // first: the CPU's run count can only grow after
	g2 := vms["guest2"]
	s.send("cpus --json")
	js := s.line(`^\{"cpus":.*\}$`, cmdTimeout)[0]
	s.prompt()
	if err := json.Unmarshal([]byte(js), &cpus); err != nil {
		t.Fatalf("cpus --json: %v in %q", err, js)
	}
	t.Logf("cpus: %+v; guest2 vCPUs %+v, %d exits; guest1 %d exits, %d kicks", cpus.CPUs, g2.VCPUs, g2.Exits,
		vms["guest1"].Exits, vms["guest1"].Arch.Kicks)
	if len(g2.VCPUs) != 1 || g2.VCPUs[0].PCPU != 1 || len(vms["guest1"].VCPUs) != 1 || vms["guest1"].VCPUs[0].PCPU != 0 {
		t.Errorf("pinning: guest1 %+v guest2 %+v", vms["guest1"].VCPUs, g2.VCPUs)
	}
	if len(cpus.CPUs) != 2 || !cpus.CPUs[1].Online || cpus.CPUs[1].GuestRuns < g2.Exits || g2.Exits < 10000 {
		t.Errorf("CPU 1 ran %+v for guest2's %d exits", cpus.CPUs, g2.Exits)
	}
	// The AP's exits reached the boot CPU while guest1 ran there: its
	// kick ended guest1's slice (exits.go, ExitInterrupt).
	if vms["guest1"].Arch.Kicks == 0 {
		t.Errorf("no kick from the AP ever ended a slice of guest1: %+v", vms["guest1"].Arch)
	}

	// guest2 triple-faults after its line: only it stops.
	deadline := time.Now().Add(60 * time.Second)
	var g1 x86VM
	for {
		vms = s.x86VMs()
		g1 = vms["guest1"]
		if g2 := vms["guest2"]; g2.State == "crashed" {
			if !strings.Contains(g2.Reason, "triple fault") || g2.Arch.Triples != 1 {
				t.Errorf("guest2: state %s reason %q triples %d", g2.State, g2.Reason, g2.Arch.Triples)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest2 did not stop after its triple fault: %+v", vms["guest2"])
		}
		time.Sleep(time.Second)
	}
	if g1.State != "running" {
		t.Fatalf("guest1 is %s (%s) after guest2's triple fault", g1.State, g1.Reason)
	}
	a := g1.Arch
	if a.NPFaults < 500 || a.MSRFaults < 1000 || a.Unclaimed < 1000 || g1.Stats.BadHypercalls < 1000 || a.Interrupts < 100 {
		t.Errorf("guest1 counters too low for its hostile run: %+v bad hypercalls %d", a, g1.Stats.BadHypercalls)
	}
	time.Sleep(2 * time.Second)
	if later := s.x86VMs()["guest1"]; later.State != "running" || later.Exits <= g1.Exits {
		t.Errorf("guest1 not running on: state %s exits %d then %d", later.State, g1.Exits, later.Exits)
	}

	// Shell parity with arm64: the same commands, from the same code.
	s.send("vm reset guest2")
	s.prompt()
	_, res := s.waitGuestResult("guest2", 1, 240*time.Second)
	if res[4] != "0" {
		t.Errorf("guest2 after reset: %s", res[0])
	}
	s.send("vm stop guest1")
	s.prompt()
	if st := s.x86VMs()["guest1"].State; st != "stopped" {
		t.Errorf("after vm stop: %s", st)
	}
	s.send("vm stop guest1")
	s.line(`error: .*guest1 is stopped`, cmdTimeout)
	s.prompt()
	s.send("vm start guest1")
	s.prompt()
	if vm := s.x86VMs()["guest1"]; vm.State != "running" || vm.Stats.Starts != 2 {
		t.Errorf("after vm start: %s, %d starts", vm.State, vm.Stats.Starts)
	}
	s.send("vm log nosuchvm")
	s.line(`error: .*no such vm`, cmdTimeout)
	s.prompt()
}
