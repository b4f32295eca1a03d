package main

import (
	"syscall"
	"time"
)

// sleepUntil blocks until t. The dispatcher needs this to be precise: the
// lab measures every latency from the scheduled arrival, so the time the
// dispatcher wakes late is added to every request, and an open breaker's
// answer (microseconds) would be measured as the timer's lag. Go's timers
// wake through epoll, whose timeout is whole milliseconds, so time.Sleep
// here wakes up to a millisecond late (measured: a median of 0.6 ms at 500
// arrivals a second). nanosleep(2) has the kernel's high-resolution timer:
// about 0.1 ms late on a thread of its own, without spinning. The caller
// should hold its OS thread (runtime.LockOSThread), so that the sleep does
// not take a thread the Go scheduler needs.
func sleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	// A signal (the Go runtime's preemption) interrupts the sleep, which
	// leaves the time still to sleep in ts.
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
