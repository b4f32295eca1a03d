//go:build !linux

package main

import "time"

// sleepUntil blocks until t. Elsewhere than Linux it is time.Sleep, which
// may wake a millisecond late; the lab's figures are measured on Linux.
func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}
