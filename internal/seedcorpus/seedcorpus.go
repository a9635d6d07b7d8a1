// internal/seedcorpus: committed fuzz seed corpora, kept in step with the tests.
// SPDX-License-Identifier: BSD-3-Clause

// Package seedcorpus checks that a fuzz target's committed seeds under
// testdata/fuzz are the ones a test generates, or rewrites them. It is
// used by tests on the host only.
package seedcorpus

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Bytes is the corpus file ("go test fuzz v1") of a seed for a fuzz
// target that takes one []byte.
func Bytes(b []byte) string {
	return fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(b)))
}

// Sync checks that dir/name holds want, failing t if it is missing or
// different; with write it writes want there instead.
func Sync(t testing.TB, dir, name, want string, write bool) {
	t.Helper()
	path := filepath.Join(dir, name)
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Errorf("%s is missing or stale (%v): run go test -run TestSeedCorpus -write-corpus", path, err)
	}
}
