// Refused: T gains a field, and process allocates a T.
package main

type T struct{ a, b, c int }

//go:noinline
func checkLimit(n int) bool { return n <= limit+table[0]-1 }

//go:noinline
func process(n int) int {
	if !checkLimit(n) {
		panic("limit exceeded")
	}
	counter++
	sink = &T{a: n, b: counter, c: 1}
	return table[n%4] + n
}

//go:noinline
func classify(n int) int { return n * 3 }
