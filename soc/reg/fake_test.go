// soc/reg: replaceable register access for tamavisor device drivers.
// SPDX-License-Identifier: BSD-3-Clause

package reg

import "testing"

func TestFakeRecordsAndHooks(t *testing.T) {
	f := NewFake()
	f.Poke(0x10, 0x1)
	reads := 0
	f.OnRead[0x18] = func(*Fake, uint32) uint64 { reads++; return uint64(reads) }
	Set(f, 0x10, 4)
	if !Wait(f, 0x18, 0, 0xff, 3, 10) {
		t.Fatal("Wait did not see the hook reach 3")
	}
	want := []Access{R(32, 0x10, 0x1), W(32, 0x10, 0x11), R(32, 0x18, 1), R(32, 0x18, 2), R(32, 0x18, 3)}
	if d := DiffLog(f.Log, want); d != "" {
		t.Fatal(d)
	}
	if d := DiffLog(f.Log[:1], want); d == "" {
		t.Fatal("DiffLog reported equal logs of different length")
	}
	if Wait(f, 0x10, 0, 0xff, 0x99, 5) {
		t.Fatal("Wait succeeded on a value never read")
	}
}
