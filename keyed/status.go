package keyed

import (
	"slices"
	"strings"

	"github.com/cascadeguard/resilience"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/telemetry"
)

// Status reports the Keyed for a status page ([telemetry.StatusHandler]):
// Kind "keyed", its name, and in Instances the status of each instance held
// whose policy implements [telemetry.StatusReporter] (every policy of this
// module does; a [resilience.Chain] does not, so a factory that returns a
// chain should return a type that reports its members instead). Instances
// are sorted by key, the overflow instance last. An instance that reports
// no key of its own (its factory did not set Telemetry.Key) gets the key it
// is held under, sanitized like a telemetry attribute: a URL is reduced to
// its host.
//
// Like [Keyed.Range], it takes no lock of the Keyed and is not a consistent
// snapshot. There are at most MaxKeys+1 instances.
func (k *Keyed) Status() telemetry.Status {
	if k == nil {
		return telemetry.Status{Kind: "keyed"}
	}
	type held struct {
		key string
		st  telemetry.Status
	}
	var list []held
	k.Range(func(key string, p resilience.Policy) bool {
		r, ok := p.(telemetry.StatusReporter)
		if !ok {
			return true
		}
		st := r.Status()
		if st.Key == "" {
			st.Key = observe.SanitizeKey(key)
		}
		list = append(list, held{key, st})
		return true
	})
	slices.SortFunc(list, func(a, b held) int {
		// Only the overflow instance is held under OverflowKey.
		if (a.key == OverflowKey) != (b.key == OverflowKey) {
			if a.key == OverflowKey {
				return 1
			}
			return -1
		}
		return strings.Compare(a.key, b.key)
	})
	st := telemetry.Status{Kind: "keyed", Name: k.name}
	if len(list) > 0 {
		st.Instances = make([]telemetry.Status, len(list))
		for i, h := range list {
			st.Instances[i] = h.st
		}
	}
	return st
}
