// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

package manifest

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseNumber(t *testing.T) {
	good := []struct {
		in   string
		want uint64
	}{
		{"0", 0},
		{"4096", 4096},
		{"010", 10},
		{"0x1000", 0x1000},
		{"0X1f", 0x1f},
		{"0xDEADbeef", 0xdeadbeef},
		{"64M", 64 << 20},
		{"64m", 64 << 20},
		{"4K", 4096},
		{"1G", 1 << 30},
		{"0x10k", 16 << 10},
		{"18446744073709551615", 1<<64 - 1},
		{"0xffffffffffffffff", 1<<64 - 1},
		{"15G", 15 << 30},
		{"17179869183G", 17179869183 << 30},
	}
	for _, tc := range good {
		got, err := ParseNumber(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseNumber(%q) = %#x, %v; want %#x", tc.in, got, err, tc.want)
		}
	}
	bad := []string{"", "K", "0x", "0xM", "-1", "+1", " 1", "1 ", "1.5", "1e3", "0x1g0", "12Q", "1KB", "1MiB",
		"18446744073709551616", "0x10000000000000000", "17179869184G", "0b101", "0o17", "١٢"}
	for _, in := range bad {
		if got, err := ParseNumber(in); !errors.Is(err, ErrNumber) {
			t.Errorf("ParseNumber(%q) = %#x, %v; want ErrNumber", in, got, err)
		}
	}
}

func TestParseRawNumber(t *testing.T) {
	good := map[string]uint64{`33`: 33, `"33"`: 33, `"0x21"`: 0x21, `"64M"`: 64 << 20, `"\u0036\u0034M"`: 64 << 20}
	for in, want := range good {
		if got, err := parseRawNumber(json.RawMessage(in)); err != nil || got != want {
			t.Errorf("parseRawNumber(%s) = %#x, %v; want %#x", in, got, err, want)
		}
	}
	for _, in := range []string{`-1`, `1.0`, `1e2`, `true`, `{}`, `[]`, `"x"`, `"`, `null`} {
		if got, err := parseRawNumber(json.RawMessage(in)); !errors.Is(err, ErrNumber) {
			t.Errorf("parseRawNumber(%s) = %#x, %v; want ErrNumber", in, got, err)
		}
	}
}
