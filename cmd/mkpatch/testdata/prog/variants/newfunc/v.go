// Refused: process calls a function OLD does not have.
package main

type T struct{ a, b int }

//go:noinline
func checkLimit(n int) bool { return n <= limit+table[0]-1 }

//go:noinline
func newHelper(n int) int { return n*7 + 1 }

//go:noinline
func process(n int) int {
	if !checkLimit(n) {
		panic("limit exceeded")
	}
	counter++
	sink = &T{a: n, b: counter}
	return table[n%4] + newHelper(n)
}

//go:noinline
func classify(n int) int { return n * 3 }
