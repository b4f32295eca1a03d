package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sampleEvery is how often the live loop samples the number of goroutines.
const sampleEvery = 100 * time.Millisecond

// A live prints the live table every tick, and samples the number of
// goroutines of the process meanwhile.
type live struct {
	w     io.Writer
	tick  time.Duration
	start time.Time
	sc    schedule
	modes []*mode

	next      []int // per mode: the first record not yet shown
	lastHits  []int64
	lastCalls []int64
	lines     int

	peak  atomic.Int64
	stopc chan struct{}
	wg    sync.WaitGroup
}

func startLive(w io.Writer, tick time.Duration, start time.Time, sc schedule, modes []*mode) *live {
	l := &live{
		w: w, tick: tick, start: start, sc: sc, modes: modes,
		next:      make([]int, len(modes)),
		lastHits:  make([]int64, len(modes)),
		lastCalls: make([]int64, len(modes)),
		stopc:     make(chan struct{}),
	}
	l.sample()
	l.wg.Go(l.loop)
	return l
}

func (l *live) loop() {
	ticker := time.NewTicker(sampleEvery)
	defer ticker.Stop()
	nextPrint := l.start.Add(l.tick)
	for {
		select {
		case <-l.stopc:
			return
		case now := <-ticker.C:
			g := l.sample()
			if l.tick > 0 && !now.Before(nextPrint) {
				l.print(now, g)
				for !nextPrint.After(now) {
					nextPrint = nextPrint.Add(l.tick)
				}
			}
		}
	}
}

func (l *live) sample() int {
	g := runtime.NumGoroutine()
	for {
		p := l.peak.Load()
		if int64(g) <= p || l.peak.CompareAndSwap(p, int64(g)) {
			return g
		}
	}
}

func (l *live) stop() {
	close(l.stopc)
	l.wg.Wait()
}

func (l *live) peakGoroutines() int { return int(l.peak.Load()) }

const liveHeader = "     t  phase    mode      dep   reqs     ok%      p50      p99  in-flight  queued  breaker    hits/call  goroutines"

// print prints one row per mode and dependency for the requests that ended
// since the last print.
func (l *live) print(now time.Time, goroutines int) {
	t := now.Sub(l.start)
	if l.lines%20 == 0 {
		fmt.Fprintln(l.w, liveHeader)
	}
	l.lines++
	phase := "drain"
	if t < l.sc.duration() {
		phase = phaseNames[l.sc.phaseAt(t)]
	}
	for i, m := range l.modes {
		recs := m.front.recordsFrom(l.next[i])
		l.next[i] += len(recs)
		var by [numDeps][]record
		for _, r := range recs {
			by[r.dep] = append(by[r.dep], r)
		}
		hits, calls := m.deps[depB].total.Load(), m.front.calls[depB].Load()
		for dep := range numDeps {
			st := statsOf(by[dep])
			col1, col2 := "", ""
			if i == 0 && dep == 0 {
				col1, col2 = fmt.Sprintf("%5.0fs", t.Seconds()), phase
			}
			queued, brk, amp, gor := "", "", "", ""
			if dep == depA {
				queued = fmt.Sprint(m.front.queued())
			} else {
				brk = m.breaker.current()
				amp = ratio(hits-l.lastHits[i], calls-l.lastCalls[i])
			}
			if i == 0 && dep == 0 {
				gor = fmt.Sprint(goroutines)
			}
			line := fmt.Sprintf("%6s  %-8s %-9s %-3s %6d  %6s  %7s  %7s  %9d  %6s  %-9s  %9s  %10s",
				col1, col2, m.kind, depNames[dep], st.Requests, pct(st.Requests, st.OK),
				fmtDur(st.P50), fmtDur(st.P99), m.front.inFlight[dep].Load(), queued, brk, amp, gor)
			fmt.Fprintln(l.w, strings.TrimRight(line, " "))
		}
		l.lastHits[i], l.lastCalls[i] = hits, calls
	}
}

// ratio formats a/b with two decimals, or "-" when b is zero.
func ratio(a, b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

// pct formats ok/n as a percentage, or "-" when n is zero.
func pct(n, ok int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", 100*float64(ok)/float64(n))
}

// fmtDur formats a latency with three significant digits: 0.123ms, 4.56ms,
// 789ms, 1.23s. Zero, which means "no data", prints as "-".
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.3fms", float64(d)/1e6)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
