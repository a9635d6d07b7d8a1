// hv/shell: the operator shell on tamavisor's serial console.
// SPDX-License-Identifier: BSD-3-Clause

package shell

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzShellInput feeds arbitrary console bytes through a whole Shell.Run
// with the standard commands: it must not panic or hang, must end
// cleanly at the end of input, and must only ever send printable ASCII
// lines ending in "\r\n" (plus the "\b \b" echo) back to the terminal.
// Seeds live in testdata/fuzz/FuzzShellInput.
func FuzzShellInput(f *testing.F) {
	f.Add([]byte("help\r\nbogus\r\n\x00\x01\x02\r\ninfo --json\r\n"))
	f.Add([]byte("mem\nuptime --json\n-h\ninfo -h --json\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, _ := fakePlatform()
		var out bytes.Buffer
		s := New(bytes.NewReader(in), &out)
		for _, c := range Standard(p) {
			if err := s.Register(c); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Run(); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if s.Panics != 0 {
			t.Fatalf("%d commands panicked", s.Panics)
		}
		b := out.Bytes()
		for i, c := range b {
			switch {
			case c == '\n':
				if i == 0 || b[i-1] != '\r' {
					t.Fatalf("bare LF at %d in %q", i, b)
				}
			case c == '\r':
				if i+1 >= len(b) || b[i+1] != '\n' {
					t.Fatalf("bare CR at %d in %q", i, b)
				}
			case c == '\b':
			case c < ' ' || c >= 0x7f:
				t.Fatalf("non-text byte %#02x at %d in %q", c, i, b)
			}
		}
	})
}

// FuzzSplit checks that Split never panics, fails only on an open quote,
// and that re-quoting the words it returns gives them back.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"", "info --json", `say "a \"b\" c" 'd e'`, `"open`, `a"b"'c'd`, `"\\"`, "\t\r\n\v\f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Split(line)
		if err != nil {
			if !errors.Is(err, ErrUnterminatedQuote) || words != nil {
				t.Fatalf("Split(%q) = %q, %v", line, words, err)
			}
			return
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + strings.ReplaceAll(w, "'", `'"'"'`) + "'"
		}
		again, err := Split(strings.Join(quoted, " "))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("Split(%q) = %q; re-split of quoted words = %q, %v", line, words, again, err)
		}
	})
}
