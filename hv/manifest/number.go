// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

package manifest

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"strings"
)

// ParseNumber parses a manifest number written as a string: a decimal
// integer ("4096") or a 0x-prefixed hexadecimal one ("0x1000"), with an
// optional binary multiplier suffix K, M or G (case-insensitive: "64M" is
// 64<<20, "0x10k" is 16<<10). Signs, spaces, fractions and leading "+"
// are refused, as is a value that does not fit in 64 bits. A decimal
// number with leading zeros is still decimal.
func ParseNumber(s string) (uint64, error) {
	if len(s) > 32 {
		return 0, fmt.Errorf("%w: %.32q... is too long", ErrNumber, s)
	}
	body, shift := s, uint(0)
	if n := len(body); n > 0 {
		switch body[n-1] {
		case 'K', 'k':
			shift = 10
		case 'M', 'm':
			shift = 20
		case 'G', 'g':
			shift = 30
		}
		if shift != 0 {
			body = body[:n-1]
		}
	}
	base := uint64(10)
	if len(body) > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		base, body = 16, body[2:]
	}
	if body == "" {
		return 0, fmt.Errorf("%w: %q has no digits", ErrNumber, s)
	}
	var v uint64
	for i := 0; i < len(body); i++ {
		d, ok := digit(body[i], base)
		if !ok {
			return 0, fmt.Errorf("%w: %q: want a decimal or 0x-prefixed integer with an optional K, M or G suffix", ErrNumber, s)
		}
		hi, lo := bits.Mul64(v, base)
		lo, carry := bits.Add64(lo, d, 0)
		if hi != 0 || carry != 0 {
			return 0, fmt.Errorf("%w: %q does not fit in 64 bits", ErrNumber, s)
		}
		v = lo
	}
	if shift != 0 && v>>(64-shift) != 0 {
		return 0, fmt.Errorf("%w: %q does not fit in 64 bits", ErrNumber, s)
	}
	return v << shift, nil
}

func digit(c byte, base uint64) (uint64, bool) {
	var d uint64
	switch {
	case '0' <= c && c <= '9':
		d = uint64(c - '0')
	case base == 16 && 'a' <= c && c <= 'f':
		d = uint64(c-'a') + 10
	case base == 16 && 'A' <= c && c <= 'F':
		d = uint64(c-'A') + 10
	default:
		return 0, false
	}
	return d, true
}

// parseRawNumber reads a number field as it came from JSON: an integer
// literal or a string for ParseNumber. raw is never empty (callers check
// presence first).
func parseRawNumber(raw json.RawMessage) (uint64, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("%w: %s", ErrNumber, raw)
		}
		return ParseNumber(s)
	}
	s := string(raw)
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%w: %.40s: want a non-negative integer, or a string such as \"0x1000\" or \"64M\"", ErrNumber, s)
	}
	return ParseNumber(s)
}

// hex formats a number as a manifest string, as Encode writes it.
func hex(v uint64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`"%#x"`, v))
}
