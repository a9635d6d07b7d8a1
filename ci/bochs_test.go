// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package ci_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// bochsrc runs the GRUB ISO on Bochs' Skylake-X model, which emulates
// VMX with EPT and unrestricted guest (Bochs 2.7, Debian), with COM1 on a
// TCP socket. Bochs has no headless display, so it uses rfb without
// waiting for a client; its VGA ROM link is broken on Debian, hence the
// SeaBIOS one; without "sound: driver=dummy" it aborts.
const bochsrc = `megs: 1024
cpu: model=corei7_skylake_x, count=1, ips=200000000
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/seabios/vgabios-stdvga.bin
ata0-master: type=cdrom, path=%s, status=inserted
boot: cdrom
com1: enabled=1, mode=socket-server, dev=localhost:%d
display_library: rfb, options="timeout=0"
log: %s
panic: action=report
error: action=report
clock: sync=none, time0=local
speaker: enabled=0
sound: driver=dummy
`

// TestVMXBochs boots the VMX ISO (make check-vmx builds it: the
// qemu-q35-amd64 image with ci/bochs/manifest.json and the test guest as
// GRUB modules, so the VMs come from the modules, not the embedded
// bundle) on Bochs and requires both x86 test guests to pass their suites
// through the VMX backend, guest2's triple fault to stop only guest2, and
// a passing rerun after "vm reset guest2". It runs only with
// TAMAVISOR_BOCHS=1 (make check-vmx): Bochs takes minutes.
func TestVMXBochs(t *testing.T) {
	if os.Getenv("TAMAVISOR_BOCHS") != "1" {
		t.Skip("SKIP: Bochs VMX run only under make check-vmx (TAMAVISOR_BOCHS=1)")
	}
	iso, err := filepath.Abs("../build/tamavisor-vmx.iso")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(iso); err != nil {
		t.Fatalf("%v: run make check-vmx", err)
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logDir, _ := filepath.Abs("../build/logs")
	os.MkdirAll(logDir, 0o755)
	rc := filepath.Join(dir, "bochsrc")
	os.WriteFile(rc, []byte(fmt.Sprintf(bochsrc, iso, port, filepath.Join(logDir, "bochs.log"))), 0o644)
	os.WriteFile(filepath.Join(dir, "cmds"), []byte("c\n"), 0o644)
	cmd := exec.Command("bochs", "-q", "-f", rc, "-rc", filepath.Join(dir, "cmds"))
	cmd.Dir = dir
	out, _ := os.Create(filepath.Join(logDir, "bochs.out"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("bochs: %v", err)
	}
	defer cmd.Process.Kill()
	var c net.Conn
	for i := 0; i < 100; i++ {
		if c, err = net.Dial("tcp", fmt.Sprintf("localhost:%d", port)); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if c == nil {
		t.Fatalf("no COM1 socket from bochs: %v", err)
	}
	defer c.Close()
	serial, _ := os.Create(filepath.Join(logDir, "TestVMXBochs.log"))
	defer serial.Close()
	var buf bytes.Buffer
	// expect reads COM1 until re matches text after mark, or fails.
	expect := func(re *regexp.Regexp, from int, d time.Duration) []string {
		t.Helper()
		deadline := time.Now().Add(d)
		b := make([]byte, 4096)
		for {
			if m := re.FindStringSubmatch(buf.String()[from:]); m != nil {
				return m
			}
			if time.Now().After(deadline) {
				t.Fatalf("bochs: no %q after %v; serial log in build/logs/TestVMXBochs.log", re, d)
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(b)
			buf.Write(b[:n])
			serial.Write(b[:n])
		}
	}
	send := func(s string) int {
		mark := buf.Len()
		c.Write([]byte(s + "\r"))
		return mark
	}
	expect(regexp.MustCompile(`wx: on: r-x \[0x`), 0, 5*time.Minute)
	expect(regexp.MustCompile(`tamavisor: VMX with EPT`), 0, 5*time.Minute)
	expect(regexp.MustCompile(`tamavisor: manifest and images from boot modules`), 0, time.Minute)
	expect(regexp.MustCompile(`tamavisor> `), 0, 2*time.Minute)
	for _, vm := range []string{"guest1", "guest2"} {
		var res []string
		for deadline := time.Now().Add(8 * time.Minute); res == nil; {
			mark := send("vm log " + vm)
			m := expect(regexp.MustCompile(`(?s)vm log `+vm+`(.*?)tamavisor> `), mark, time.Minute)
			res = guestResult.FindStringSubmatch(m[1])
			if res == nil && time.Now().After(deadline) {
				t.Fatalf("%s: no GUEST-TEST line", vm)
			}
			if res == nil {
				time.Sleep(5 * time.Second)
			}
		}
		t.Logf("%s (VMX, Bochs): %s", vm, res[0])
		if res[4] != "0" || res[2] != res[3] {
			t.Errorf("%s failed under VMX: %s", vm, res[0])
		}
	}
	for deadline := time.Now().Add(3 * time.Minute); ; {
		mark := send("vm list")
		m := expect(regexp.MustCompile(`(?s)vm list(.*?)tamavisor> `), mark, time.Minute)
		if strings.Contains(m[1], "crashed") {
			if !regexp.MustCompile(`guest1\s+running`).MatchString(m[1]) {
				t.Errorf("after guest2's triple fault: %s", m[1])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest2 never stopped: %s", m[1])
		}
		time.Sleep(5 * time.Second)
	}
	mark := send("vm reset guest2")
	expect(regexp.MustCompile(`tamavisor> `), mark, time.Minute)
	for deadline := time.Now().Add(8 * time.Minute); ; {
		mark := send("vm log guest2")
		m := expect(regexp.MustCompile(`(?s)vm log guest2(.*?)tamavisor> `), mark, time.Minute)
		if all := guestResult.FindAllStringSubmatch(m[1], -1); len(all) >= 2 {
			if all[len(all)-1][4] != "0" {
				t.Errorf("guest2 after reset: %s", all[len(all)-1][0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest2: no second GUEST-TEST line after vm reset")
		}
		time.Sleep(5 * time.Second)
	}
	// W^X still holds after the guests ran under VMX (the VMCS host
	// state carries the W^X CR3 and CR0.WP): the tables check out and
	// every probe faults.
	mark = send("wx probe")
	m := expect(regexp.MustCompile(`(?s)wx probe(.*?)tamavisor> `), mark, time.Minute)
	if !strings.Contains(m[1], "check: ok") || strings.Contains(m[1], "WRONG") || strings.Count(m[1], "#PF error") != 5 {
		t.Errorf("wx probe under VMX:%s", m[1])
	}
}
