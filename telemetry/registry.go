package telemetry

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// MaxRegistered is the most entries a [Registry] holds. A status page is
// for the policies an application names, a few dozen at most; the cap keeps
// a registration loop gone wrong from growing memory without bound.
const MaxRegistered = 1000

// maxNameLen bounds an entry name in bytes.
const maxNameLen = 200

// Registry holds the named policies whose status an application shows with
// [StatusHandler]. The application registers what it wants to expose,
// typically once at start-up:
//
//	var reg telemetry.Registry
//	reg.Register("inventory-breaker", inventoryBreaker)
//	mux.Handle("/debug/resilience", telemetry.StatusHandler(&reg))
//
// Registering holds a reference to the policy until [Registry.Unregister].
// Policies do not register themselves: the application decides what is
// public and for how long.
//
// The zero value is an empty registry, ready to use. A Registry is safe for
// concurrent use; it must not be copied after first use.
type Registry struct {
	mu      sync.RWMutex
	entries map[string]StatusReporter
}

// Entry is one registered policy's snapshot, as [Registry.Snapshot] returns
// it and the status handler serves it. It is a plain value.
type Entry struct {
	// Name is the name the policy was registered under.
	Name string `json:"name"`
	// Status is the policy's snapshot when it was taken.
	Status Status `json:"status"`
}

// ErrRegistryFull is returned by [Registry.Register] when the registry
// already holds [MaxRegistered] entries.
var ErrRegistryFull = errors.New("telemetry: registry full")

// Register adds p under name. It returns an error, and changes nothing, when
// name is empty or longer than 200 bytes, p is nil, name is already taken,
// or the registry is full ([ErrRegistryFull]).
func (r *Registry) Register(name string, p StatusReporter) error {
	switch {
	case name == "" || strings.TrimSpace(name) == "":
		return fmt.Errorf("telemetry: Register name %q is empty", name)
	case len(name) > maxNameLen:
		return fmt.Errorf("telemetry: Register name of %d bytes is longer than %d", len(name), maxNameLen)
	case p == nil:
		return fmt.Errorf("telemetry: Register %q: nil StatusReporter", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.entries[name]; dup {
		return fmt.Errorf("telemetry: Register name %q is already registered", name)
	}
	if len(r.entries) >= MaxRegistered {
		return fmt.Errorf("%w: %d entries; %q not added", ErrRegistryFull, MaxRegistered, name)
	}
	if r.entries == nil {
		r.entries = make(map[string]StatusReporter)
	}
	r.entries[name] = p
	return nil
}

// Unregister removes the entry registered under name and reports whether
// there was one.
func (r *Registry) Unregister(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.entries[name]
	delete(r.entries, name)
	return ok
}

// Len returns the number of registered entries. A nil Registry has none.
func (r *Registry) Len() int {
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.entries)
}

// Snapshot returns the status of every registered policy, sorted by name.
// It calls the reporters without holding the registry's lock, so a reporter
// may itself use the registry. A nil Registry returns nil.
func (r *Registry) Snapshot() []Entry {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	out := make([]Entry, 0, len(r.entries))
	reporters := make([]StatusReporter, 0, len(r.entries))
	for name, p := range r.entries {
		out = append(out, Entry{Name: name})
		reporters = append(reporters, p)
	}
	r.mu.RUnlock()
	for i, p := range reporters {
		out[i].Status = p.Status()
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}
