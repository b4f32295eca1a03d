package main

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestSleepUntilSignals: sleepUntil does not wake before its time when
// signals interrupt its sleep. The Go runtime sends SIGURG to preempt
// goroutines; here another goroutine sends it to the sleeping thread every
// 2 ms, and nanosleep(2) returns EINTR on each.
func TestSleepUntilSignals(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, tid := syscall.Getpid(), syscall.Gettid()
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		sent := 0
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				done <- sent
				return
			case <-tick.C:
				if syscall.Tgkill(pid, tid, syscall.SIGURG) == nil {
					sent++
				}
			}
		}
	}()
	for _, d := range []time.Duration{-time.Millisecond, 0, 50 * time.Microsecond, 20 * time.Millisecond} {
		at := time.Now().Add(d)
		sleepUntil(at)
		if early := time.Until(at); early > 0 {
			t.Errorf("sleepUntil(now%+v) returned %v early", d, early)
		}
	}
	close(stop)
	if sent := <-done; sent == 0 {
		t.Fatal("no signal was sent: the test proved nothing")
	}
}
