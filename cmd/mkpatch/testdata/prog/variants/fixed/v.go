// The fix: checkLimit and process change; process now also scales by a
// global float and calls helper.
package main

type T struct{ a, b int }

//go:noinline
func checkLimit(n int) bool { return n < limit+table[0]-1 }

//go:noinline
func process(n int) int {
	if !checkLimit(n) {
		panic("limit exceeded")
	}
	counter += 2
	sink = &T{a: n, b: counter}
	return table[n%4] + int(float64(n)*ratio) + helper(n)
}

//go:noinline
func classify(n int) int { return n * 3 }
