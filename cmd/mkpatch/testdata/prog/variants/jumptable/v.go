// Refused: classify becomes a dense switch, which Go compiles to a jump
// table of absolute code addresses.
package main

type T struct{ a, b int }

//go:noinline
func checkLimit(n int) bool { return n <= limit+table[0]-1 }

//go:noinline
func process(n int) int {
	if !checkLimit(n) {
		panic("limit exceeded")
	}
	counter++
	sink = &T{a: n, b: counter}
	return table[n%4] + n
}

//go:noinline
func classify(n int) int {
	switch n {
	case 0:
		return helper(n) * 5
	case 1:
		return n * 3
	case 2:
		return n ^ 0x55
	case 3:
		return helper(n + 1)
	case 4:
		return n << 4
	case 5:
		return n - 99
	case 6:
		return helper(n) + 11
	case 7:
		return n * n
	case 8:
		return -n
	case 9:
		return n / 3
	}
	return n * 3
}
