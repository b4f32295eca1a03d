package main

import (
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cascadeguard/resilience/chaos"
)

// The two dependencies of the frontend.
const (
	depA = iota
	depB
	numDeps
)

var depNames = [numDeps]string{"A", "B"}

// hitBucket is the resolution at which a dependency counts the requests it
// receives, so that they can be summed over phases.
const hitBucket = 100 * time.Millisecond

// A dependency is an HTTP server on a 127.0.0.1 port whose answers come from
// a chaos injector. It counts the requests it receives and the connections
// it accepts.
type dependency struct {
	url   string
	inj   *chaos.Injector
	next  http.Handler
	srv   *http.Server
	start time.Time
	hits  []atomic.Int64 // requests received, by hitBucket since start
	total atomic.Int64   // requests received
	conns atomic.Int64   // connections accepted
	done  chan struct{}  // closed when Serve has returned
	once  sync.Once
}

// startDependency starts a dependency whose faults come from inj. horizon
// bounds the time, from start, over which hits are counted by bucket.
func startDependency(inj *chaos.Injector, start time.Time, horizon time.Duration) (*dependency, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &dependency{
		url:   "http://" + ln.Addr().String() + "/",
		inj:   inj,
		start: start,
		hits:  make([]atomic.Int64, int(horizon/hitBucket)+1),
		done:  make(chan struct{}),
	}
	d.next = chaos.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	}), inj)
	d.srv = &http.Server{
		Handler:           d,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				d.conns.Add(1)
			}
		},
		// Connections that the plain client abandons mid-request are
		// expected here; they are not worth a log line each.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(d.done)
		_ = d.srv.Serve(ln)
	}()
	return d, nil
}

func (d *dependency) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.total.Add(1)
	if i := time.Since(d.start) / hitBucket; i >= 0 && int(i) < len(d.hits) {
		d.hits[i].Add(1)
	}
	d.next.ServeHTTP(w, r)
}

// hitsBetween returns the requests received from offset from to offset to,
// to the resolution of hitBucket.
func (d *dependency) hitsBetween(from, to time.Duration) int64 {
	var n int64
	for i := from / hitBucket; i < to/hitBucket && int(i) < len(d.hits); i++ {
		if i >= 0 {
			n += d.hits[i].Load()
		}
	}
	return n
}

// close closes the server and every connection, hanging requests included,
// and waits for Serve to return.
func (d *dependency) close() {
	d.once.Do(func() { _ = d.srv.Close() })
	<-d.done
}
