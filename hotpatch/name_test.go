// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"bytes"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/internal/seedcorpus"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Errno // 0: accepted
	}{
		{"", EINVAL},
		{"a", 0},
		{"xsa-123_fix.v2", 0},
		{"\xff\xfe not utf-8", 0},
		{strings.Repeat("n", MaxNameLen), 0},
		{strings.Repeat("n", MaxNameLen+1), ENAMETOOLONG},
		{"a\x00b", EINVAL},
		{"a\x00", EINVAL},
		{"\x00", EINVAL},
	} {
		err := CheckName(tc.name)
		if tc.want == 0 {
			if err != nil {
				t.Errorf("CheckName(%q): %v", tc.name, err)
			}
			continue
		}
		isErrno(t, err, tc.want)
	}
}

func field(prefix string, size int) []byte {
	b := make([]byte, size)
	copy(b, prefix)
	return b
}

func TestParseNameField(t *testing.T) {
	long := strings.Repeat("x", MaxNameLen)
	for _, tc := range []struct {
		desc  string
		field []byte
		name  string
		want  Errno
	}{
		{"NUL padded", field("fix-1", MaxNameLen), "fix-1", 0},
		{"fills the field", []byte(long), long, 0},
		{"one NUL", []byte("a\x00"), "a", 0},
		{"no padding", []byte("abc"), "abc", 0},
		{"all NUL", make([]byte, MaxNameLen), "", EINVAL},
		{"empty field", nil, "", EINVAL},
		{"garbage after NUL", append(field("fix", 8), 'z'), "", EINVAL},
		{"NUL inside", []byte("fi\x00x\x00\x00"), "", EINVAL},
		{"garbage at the end", append(field("fix", MaxNameLen-1), 1), "", EINVAL},
		{"129 bytes", []byte(long + "y"), "", ENAMETOOLONG},
		{"129 bytes and padding", field(long+"y", 200), "", ENAMETOOLONG},
	} {
		name, err := ParseNameField(tc.field)
		if tc.want == 0 {
			if err != nil || name != tc.name {
				t.Errorf("%s: ParseNameField = %q, %v; want %q", tc.desc, name, err, tc.name)
			}
			continue
		}
		if name != "" {
			t.Errorf("%s: name %q returned with an error", tc.desc, name)
		}
		isErrno(t, err, tc.want)
	}
}

// FuzzParseNameField guards the name rule of docs/hotpatch.md ("Names"):
// a name field holds 1 to MaxNameLen non-NUL bytes followed only by NULs.
// nameSeeds are FuzzParseNameField's seeds, committed under
// testdata/fuzz/FuzzParseNameField (TestSeedCorpus).
func nameSeeds() []struct {
	name string
	b    []byte
} {
	return []struct {
		name string
		b    []byte
	}{
		{"padded-name", field("fix-1", MaxNameLen)},
		{"nul-inside", []byte("a\x00b")},
		{"empty", []byte{}},
		{"too-long", bytes.Repeat([]byte{'a'}, MaxNameLen+1)},
	}
}

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz from the seeds in the tests")

// TestSeedCorpus checks that testdata/fuzz/FuzzParseNameField holds the
// seeds in Go's corpus format; "go test -run TestSeedCorpus
// -write-corpus" rewrites them.
func TestSeedCorpus(t *testing.T) {
	for _, s := range nameSeeds() {
		seedcorpus.Sync(t, filepath.Join("testdata", "fuzz", "FuzzParseNameField"), s.name, seedcorpus.Bytes(s.b), *writeCorpus)
	}
}

func FuzzParseNameField(f *testing.F) {
	for _, s := range nameSeeds() {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		name, err := ParseNameField(b)
		n := bytes.IndexByte(b, 0)
		if n < 0 {
			n = len(b)
		}
		valid := n >= 1 && n <= MaxNameLen && len(bytes.Trim(b[n:], "\x00")) == 0
		if valid != (err == nil) {
			t.Fatalf("ParseNameField(%q) = %q, %v; valid by the rule: %v", b, name, err, valid)
		}
		if err == nil && (name != string(b[:n]) || CheckName(name) != nil) {
			t.Fatalf("ParseNameField(%q) = %q, not the prefix or not a valid name", b, name)
		}
	})
}
