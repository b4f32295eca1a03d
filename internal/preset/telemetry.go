package preset

import (
	"time"

	"github.com/cascadeguard/resilience/breaker"
	"github.com/cascadeguard/resilience/bulkhead"
	"github.com/cascadeguard/resilience/internal/observe"
	"github.com/cascadeguard/resilience/retry"
	"github.com/cascadeguard/resilience/telemetry"
)

// OverallRecorder returns the telemetry of the built-in overall timeout,
// which records what a timeout policy named "overall" would; nil when the
// timeout is off or telemetry disabled.
func (c *Config) OverallRecorder() *observe.Recorder {
	if c.Overall <= 0 {
		return nil
	}
	return observe.NewRecorder(observe.KindTimeout, OverallTimeoutName, c.tel)
}

// AttemptRecorder is OverallRecorder for the per-attempt timeout, named
// "attempt".
func (c *Config) AttemptRecorder() *observe.Recorder {
	if c.Attempt <= 0 {
		return nil
	}
	return observe.NewRecorder(observe.KindTimeout, AttemptTimeoutName, c.tel)
}

// AppendTimeoutStatus appends to st the status of the built-in timeouts
// that are on (overall and attempt are 0 when off), as timeout policies
// named "overall" and "attempt" would report it.
func AppendTimeoutStatus(st []telemetry.Status, overall, attempt time.Duration) []telemetry.Status {
	for _, tm := range []struct {
		name string
		d    time.Duration
	}{{OverallTimeoutName, overall}, {AttemptTimeoutName, attempt}} {
		if tm.d > 0 {
			st = append(st, telemetry.Status{
				Kind: string(observe.KindTimeout), Name: tm.name,
				Timeout: &telemetry.TimeoutStatus{Seconds: tm.d.Seconds()},
			})
		}
	}
	return st
}

// KeyStatus reports one key's policies for a status page: Kind "chain",
// and in Instances the status of the key's retry (its budget included), of
// the breaker and of the bulkhead, in that order (those that are not nil).
func KeyStatus(name, key string, r *retry.Retry, br *breaker.Breaker, bh *bulkhead.Bulkhead) telemetry.Status {
	st := telemetry.Status{Kind: "chain", Name: name, Key: key}
	if r != nil {
		st.Instances = append(st.Instances, r.Status())
	}
	if br != nil {
		st.Instances = append(st.Instances, br.Status())
	}
	if bh != nil {
		st.Instances = append(st.Instances, bh.Status())
	}
	return st
}
