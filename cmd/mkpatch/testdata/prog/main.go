// Fixture for cmd/mkpatch: the code every variant shares. The test
// copies this file, go.mod and one variants/NAME/v.go into a directory
// and builds it, so that all variants have the same file names and
// build settings and differ only in v.go.
package main

import "os"

// info stands in for hotpatch/selfimage's info array (`tvimage hpinfo
// -symbol main.info` writes the build-id into it).
var info = [512 << 10]byte{'T', 'V', 'H', 'P', 'I', 'N', 'F', 'O'}

var (
	counter int
	table   = [4]int{1, 2, 3, 4}
	sink    any
	ratio   = 1.5
)

const limit = 10

//go:noinline
func helper(n int) int { return n + len(os.Args) }

func main() {
	if info[8] == 0xff || ratio > 2 {
		println("info")
	}
	s := 0
	for i := 0; i < len(os.Args)+3; i++ {
		s += process(i) + classify(i) + helper(i)
	}
	println(s, counter)
}
