package telemetry_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cascadeguard/resilience/telemetry"
)

// fixed is a StatusReporter returning a fixed status.
type fixed telemetry.Status

func (f fixed) Status() telemetry.Status { return telemetry.Status(f) }

func breakerStatus(name, state string) fixed {
	return fixed{Kind: "breaker", Name: name, Breaker: &telemetry.BreakerStatus{State: state}}
}

func TestRegisterRejectsBadInput(t *testing.T) {
	var reg telemetry.Registry
	if err := reg.Register("taken", breakerStatus("b", "closed")); err != nil {
		t.Fatalf("Register: %v", err)
	}
	for _, tc := range []struct {
		name    string
		p       telemetry.StatusReporter
		wantErr string
	}{
		{"", breakerStatus("b", "closed"), `name "" is empty`},
		{"   ", breakerStatus("b", "closed"), `name "   " is empty`},
		{strings.Repeat("x", 201), breakerStatus("b", "closed"), "201 bytes is longer than 200"},
		{"nil", nil, `"nil": nil StatusReporter`},
		{"taken", breakerStatus("b", "closed"), `"taken" is already registered`},
	} {
		err := reg.Register(tc.name, tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Register(%.10q…): got %v, want an error containing %q", tc.name, err, tc.wantErr)
		}
	}
	if got := reg.Len(); got != 1 {
		t.Errorf("Len after rejected registrations: got %d, want 1", got)
	}
}

func TestRegistryIsBounded(t *testing.T) {
	var reg telemetry.Registry
	for i := range telemetry.MaxRegistered {
		if err := reg.Register(fmt.Sprintf("p%04d", i), breakerStatus("b", "closed")); err != nil {
			t.Fatalf("Register %d: %v", i, err)
		}
	}
	err := reg.Register("one-too-many", breakerStatus("b", "closed"))
	if !errors.Is(err, telemetry.ErrRegistryFull) {
		t.Fatalf("Register past MaxRegistered: got %v, want ErrRegistryFull", err)
	}
	if !reg.Unregister("p0000") {
		t.Fatalf("Unregister of a registered name: got false")
	}
	if err := reg.Register("one-too-many", breakerStatus("b", "closed")); err != nil {
		t.Errorf("Register after Unregister freed a slot: %v", err)
	}
	if got := reg.Len(); got != telemetry.MaxRegistered {
		t.Errorf("Len: got %d, want %d", got, telemetry.MaxRegistered)
	}
}

func TestUnregisterAndSnapshotOrder(t *testing.T) {
	var reg telemetry.Registry
	for _, n := range []string{"c", "a", "b"} {
		if err := reg.Register(n, breakerStatus(n+"-policy", "closed")); err != nil {
			t.Fatal(err)
		}
	}
	if reg.Unregister("missing") {
		t.Errorf("Unregister of an unknown name: got true")
	}
	if !reg.Unregister("b") {
		t.Errorf("Unregister(b): got false")
	}
	snap := reg.Snapshot()
	var got []string
	for _, e := range snap {
		got = append(got, e.Name+"="+e.Status.Name)
	}
	if want := "a=a-policy c=c-policy"; strings.Join(got, " ") != want {
		t.Errorf("Snapshot: got %q, want %q", strings.Join(got, " "), want)
	}
	var nilReg *telemetry.Registry
	if nilReg.Snapshot() != nil || nilReg.Len() != 0 {
		t.Errorf("nil Registry: want an empty snapshot")
	}
}

// reentrant reports its status by reading the registry it is in: Snapshot
// must not hold the registry's lock while it calls reporters.
type reentrant struct{ reg *telemetry.Registry }

func (r reentrant) Status() telemetry.Status {
	_ = r.reg.Register("registered-from-status", breakerStatus("x", "open"))
	return telemetry.Status{Kind: "keyed", Name: fmt.Sprint(r.reg.Len())}
}

func TestReporterMayUseTheRegistry(t *testing.T) {
	var reg telemetry.Registry
	if err := reg.Register("self", reentrant{&reg}); err != nil {
		t.Fatal(err)
	}
	snap := reg.Snapshot() // deadlocks if the lock is held
	if len(snap) != 1 || snap[0].Status.Name != "2" {
		t.Errorf("got %+v, want the reentrant reporter's status", snap)
	}
}

func TestRegistryConcurrentUse(t *testing.T) {
	var reg telemetry.Registry
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				name := fmt.Sprintf("g%d-%d", g, i%10)
				_ = reg.Register(name, breakerStatus(name, "open"))
				_ = reg.Snapshot()
				reg.Unregister(name)
			}
		}()
	}
	wg.Wait()
	if got := reg.Len(); got != 0 {
		t.Errorf("Len after every goroutine unregistered: got %d, want 0", got)
	}
}
