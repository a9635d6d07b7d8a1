// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

//go:build race

package main

// raceEnabled: the race detector makes the real-image relink test slow
// (tens of seconds on the arm64 image), so it samples functions.
const raceEnabled = true
