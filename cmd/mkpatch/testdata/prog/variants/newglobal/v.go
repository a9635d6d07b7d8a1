// Refused: process uses a global variable OLD does not have.
package main

type T struct{ a, b int }

var extra int

//go:noinline
func checkLimit(n int) bool { return n <= limit+table[0]-1 }

//go:noinline
func process(n int) int {
	if !checkLimit(n) {
		panic("limit exceeded")
	}
	counter++
	extra++
	sink = &T{a: n, b: counter}
	return table[n%4] + n
}

//go:noinline
func classify(n int) int { return n * 3 }
