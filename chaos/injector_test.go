package chaos_test

import (
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/cascadeguard/resilience/chaos"
)

func mustNew(t testing.TB, cfg chaos.Config) *chaos.Injector {
	t.Helper()
	inj, err := chaos.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return inj
}

// pattern returns which of the next n requests get a fault: 'x' or '.'.
func pattern(inj *chaos.Injector, n int) string {
	var b strings.Builder
	for range n {
		if _, ok := inj.Next(); ok {
			b.WriteByte('x')
		} else {
			b.WriteByte('.')
		}
	}
	return b.String()
}

func TestNewRejectsBadConfig(t *testing.T) {
	f503 := chaos.Fault{Status: 503}
	tests := []struct {
		name string
		cfg  chaos.Config
		want []string // substrings of the error
	}{
		{"probability above 1", chaos.Config{Faults: []chaos.Fault{{Probability: 1.5, Status: 503}}},
			[]string{"Faults[0].Probability", "1.5", "[0, 1]"}},
		{"negative probability", chaos.Config{Phases: []chaos.Phase{{Duration: time.Second, Faults: []chaos.Fault{f503, {Probability: -0.1, Status: 503}}}}},
			[]string{"Phases[0].Faults[1].Probability", "-0.1"}},
		{"NaN probability", chaos.Config{Faults: []chaos.Fault{{Probability: math.NaN(), Status: 503}}},
			[]string{"Faults[0].Probability", "NaN"}},
		{"probabilities above 1", chaos.Config{Faults: []chaos.Fault{{Probability: 0.6, Status: 503}, {Probability: 0.5, Reset: true}}},
			[]string{"Faults", "1.1", "more than 1"}},
		{"two always faults", chaos.Config{Faults: []chaos.Fault{f503, {Reset: true}}},
			[]string{"Faults", "add up to 2"}},
		{"status 200", chaos.Config{Faults: []chaos.Fault{{Status: 200}}},
			[]string{"Faults[0].Status", "200", "[400, 599]"}},
		{"status 600", chaos.Config{Faults: []chaos.Fault{{Status: 600}}},
			[]string{"Faults[0].Status 600"}},
		{"bad code", chaos.Config{Faults: []chaos.Fault{{Code: codes.Code(17)}}},
			[]string{"Faults[0].Code 17"}},
		{"negative latency", chaos.Config{Faults: []chaos.Fault{{Latency: -time.Millisecond}}},
			[]string{"Faults[0].Latency", "-1ms"}},
		{"negative jitter", chaos.Config{Faults: []chaos.Fault{{Latency: time.Millisecond, Jitter: -time.Millisecond}}},
			[]string{"Faults[0].Jitter", "-1ms"}},
		{"latency and jitter overflow", chaos.Config{Faults: []chaos.Fault{{Latency: math.MaxInt64 - 1, Jitter: 2}}},
			[]string{"Faults[0]", "overflows"}},
		{"negative retry-after", chaos.Config{Faults: []chaos.Fault{{Status: 503, RetryAfter: -time.Second}}},
			[]string{"Faults[0].RetryAfter", "-1s", "RetryAfterValue"}},
		{"retry-after value with newline", chaos.Config{Faults: []chaos.Fault{{Status: 503, RetryAfterValue: "1\r\nX-Evil: 1"}}},
			[]string{"Faults[0].RetryAfterValue", `"1\r\nX-Evil: 1"`}},
		{"retry-after without answer", chaos.Config{Faults: []chaos.Fault{{Latency: time.Millisecond, RetryAfter: time.Second}}},
			[]string{"Faults[0].RetryAfter 1s", "needs a Status or Code"}},
		{"retry-after value without answer", chaos.Config{Faults: []chaos.Fault{{Latency: time.Millisecond, RetryAfterValue: "5"}}},
			[]string{"Faults[0].RetryAfterValue", `"5"`, "needs a Status or Code"}},
		{"hang with status", chaos.Config{Faults: []chaos.Fault{{Hang: true, Status: 503}}},
			[]string{"Faults[0]", "Hang cannot be combined"}},
		{"hang with latency", chaos.Config{Faults: []chaos.Fault{{Hang: true, Latency: time.Second}}},
			[]string{"Faults[0]", "Hang cannot be combined"}},
		{"hang with reset", chaos.Config{Faults: []chaos.Fault{{Hang: true, Reset: true}}},
			[]string{"Faults[0]", "Hang cannot be combined"}},
		{"reset with code", chaos.Config{Faults: []chaos.Fault{{Reset: true, Code: codes.Unavailable}}},
			[]string{"Faults[0]", "Reset cannot be combined"}},
		{"empty fault", chaos.Config{Faults: []chaos.Fault{{Probability: 0.5}}},
			[]string{"Faults[0] does nothing"}},
		{"both phases and faults", chaos.Config{Phases: []chaos.Phase{{Duration: time.Second}}, Faults: []chaos.Fault{f503}},
			[]string{"Phases or Faults, not both"}},
		{"zero duration in the middle", chaos.Config{Phases: []chaos.Phase{{Duration: time.Second}, {}, {Duration: time.Second}}},
			[]string{"Phases[1].Duration 0s must be positive"}},
		{"zero duration looping", chaos.Config{Loop: true, Phases: []chaos.Phase{{Duration: time.Second}, {}}},
			[]string{"Phases[1].Duration 0s must be positive"}},
		{"negative duration", chaos.Config{Phases: []chaos.Phase{{Duration: -time.Second}}},
			[]string{"Phases[0].Duration -1s"}},
		{"schedule overflows", chaos.Config{Phases: []chaos.Phase{{Duration: math.MaxInt64}, {Duration: time.Second}}},
			[]string{"Phases[1].Duration 1s makes the schedule longer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inj, err := chaos.New(tt.cfg)
			if err == nil || inj != nil {
				t.Fatalf("got (%v, %v), want an error", inj, err)
			}
			if !strings.HasPrefix(err.Error(), "chaos: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNewAcceptsEdgeConfigs(t *testing.T) {
	tests := []struct {
		name string
		cfg  chaos.Config
	}{
		{"zero config", chaos.Config{}},
		{"probabilities adding up to 1 with rounding", chaos.Config{Faults: []chaos.Fault{
			{Probability: 0.1, Status: 503}, {Probability: 0.2, Reset: true}, {Probability: 0.7, Hang: true}}}},
		{"last phase forever", chaos.Config{Phases: []chaos.Phase{{Duration: time.Second}, {Faults: []chaos.Fault{{Status: 503}}}}}},
		{"jitter alone", chaos.Config{Faults: []chaos.Fault{{Jitter: time.Millisecond}}}},
		{"code alone with retry-after", chaos.Config{Faults: []chaos.Fault{{Code: codes.ResourceExhausted, RetryAfter: time.Second}}}},
		{"delayed reset", chaos.Config{Faults: []chaos.Fault{{Latency: time.Millisecond, Reset: true}}}},
		{"probability one", chaos.Config{Faults: []chaos.Fault{{Probability: 1, Status: 500}}}},
	}
	for _, tt := range tests {
		if _, err := chaos.New(tt.cfg); err != nil {
			t.Errorf("%s: got %v, want no error", tt.name, err)
		}
	}
}

func TestZeroConfigCountsAndPasses(t *testing.T) {
	inj := mustNew(t, chaos.Config{})
	if got := pattern(inj, 10); got != ".........." {
		t.Errorf("got %s, want no fault", got)
	}
	if got, want := inj.Stats(), (chaos.Stats{Requests: 10}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	if got := inj.Phase(); got != "" {
		t.Errorf("Phase() = %q, want empty", got)
	}
}

func TestNilInjector(t *testing.T) {
	var inj *chaos.Injector
	if f, ok := inj.Next(); ok {
		t.Errorf("nil Next() = %v, true; want no fault", f)
	}
	inj.Restart()
	if got := inj.Stats(); got != (chaos.Stats{}) {
		t.Errorf("nil Stats() = %+v", got)
	}
	if inj.Phase() != "" || inj.Seed() != 0 || !inj.StartTime().IsZero() {
		t.Errorf("nil injector reports a phase, seed or start")
	}
}

func TestSameSeedSameSequence(t *testing.T) {
	cfg := chaos.Config{Seed: 42, Faults: []chaos.Fault{{Probability: 0.3, Status: 503}}}
	a := pattern(mustNew(t, cfg), 2000)
	b := pattern(mustNew(t, cfg), 2000)
	if a != b {
		t.Errorf("same seed, different sequences:\n%s\n%s", a[:80], b[:80])
	}
	cfg.Seed = 43
	if c := pattern(mustNew(t, cfg), 2000); c == a {
		t.Errorf("seeds 42 and 43 gave the same 2000 choices")
	}
}

func TestSeedZeroIsRandomAndReported(t *testing.T) {
	cfg := chaos.Config{Faults: []chaos.Fault{{Probability: 0.5, Status: 503}}}
	a, b := mustNew(t, cfg), mustNew(t, cfg)
	if a.Seed() == b.Seed() {
		t.Fatalf("two zero-seed injectors got the same seed %d", a.Seed())
	}
	// The reported seed replays the run.
	got := pattern(a, 500)
	cfg.Seed = a.Seed()
	if want := pattern(mustNew(t, cfg), 500); got != want {
		t.Errorf("replaying with Seed() %d gave a different sequence", a.Seed())
	}
}

func TestProbabilityIsTheShareOfRequests(t *testing.T) {
	const n = 20000
	for _, p := range []float64{0.01, 0.3, 0.5, 0.9} {
		for seed := uint64(1); seed <= 3; seed++ {
			inj := mustNew(t, chaos.Config{Seed: seed, Faults: []chaos.Fault{{Probability: p, Status: 503}}})
			got := float64(strings.Count(pattern(inj, n), "x")) / n
			// Five standard deviations: a seeded run either passes or fails, always.
			if tol := 5 * math.Sqrt(p*(1-p)/n); math.Abs(got-p) > tol {
				t.Errorf("p %v seed %d: got share %.4f, want %v ± %.4f", p, seed, got, p, tol)
			}
		}
	}
}

func TestLargerProbabilityFaultsSuperset(t *testing.T) {
	lo := pattern(mustNew(t, chaos.Config{Seed: 7, Faults: []chaos.Fault{{Probability: 0.2, Status: 503}}}), 1000)
	hi := pattern(mustNew(t, chaos.Config{Seed: 7, Faults: []chaos.Fault{{Probability: 0.6, Status: 503}}}), 1000)
	for i := range lo {
		if lo[i] == 'x' && hi[i] != 'x' {
			t.Fatalf("request %d faulted at p=0.2 but not at p=0.6", i)
		}
	}
}

// Concurrent callers get the same set of decisions as a serial caller: the
// n-th request draws the n-th numbers whichever goroutine it is on.
func TestConcurrentDecisionsMatchSerial(t *testing.T) {
	cfg := chaos.Config{Seed: 9, Faults: []chaos.Fault{{Probability: 0.25, Status: 503}, {Probability: 0.25, Reset: true}}}
	const goroutines, each = 8, 500
	serial := mustNew(t, cfg)
	pattern(serial, goroutines*each)

	inj := mustNew(t, cfg)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() { pattern(inj, each) })
	}
	wg.Wait()
	if got, want := inj.Stats(), serial.Stats(); got != want {
		t.Errorf("concurrent Stats() = %+v, want the serial %+v", got, want)
	}
}

func TestFaultsOfAPhaseExcludeEachOther(t *testing.T) {
	inj := mustNew(t, chaos.Config{Seed: 3, Faults: []chaos.Fault{
		{Probability: 0.2, Status: 503},
		{Probability: 0.3, Reset: true},
		{Probability: 0.1, Latency: time.Millisecond},
	}})
	const n = 20000
	counts := map[string]int{}
	for range n {
		f, ok := inj.Next()
		switch {
		case !ok:
			counts["none"]++
		case f.Status == 503 && !f.Reset && f.Latency == 0:
			counts["503"]++
		case f.Reset && f.Status == 0:
			counts["reset"]++
		case f.Latency == time.Millisecond && f.Status == 0 && !f.Reset:
			counts["delay"]++
		default:
			t.Fatalf("unexpected fault %+v", f)
		}
	}
	for kind, want := range map[string]float64{"503": 0.2, "reset": 0.3, "delay": 0.1, "none": 0.4} {
		got := float64(counts[kind]) / n
		if tol := 5 * math.Sqrt(want*(1-want)/n); math.Abs(got-want) > tol {
			t.Errorf("%s: got share %.4f, want %v ± %.4f", kind, got, want, tol)
		}
	}
	s := inj.Stats()
	want := chaos.Stats{Requests: n, Faults: uint64(n - counts["none"]), Delays: uint64(counts["delay"]),
		Errors: uint64(counts["503"]), Resets: uint64(counts["reset"])}
	if s != want {
		t.Errorf("Stats() = %+v, want %+v", s, want)
	}
}

func TestJitterStaysInRange(t *testing.T) {
	inj := mustNew(t, chaos.Config{Seed: 5, Faults: []chaos.Fault{{Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}}})
	seen := map[time.Duration]bool{}
	for range 1000 {
		f, ok := inj.Next()
		if !ok {
			t.Fatal("no fault at probability 1")
		}
		if f.Latency < 10*time.Millisecond || f.Latency >= 15*time.Millisecond || f.Jitter != 0 {
			t.Fatalf("got Latency %v Jitter %v, want Latency in [10ms, 15ms) and Jitter 0", f.Latency, f.Jitter)
		}
		seen[f.Latency] = true
	}
	if len(seen) < 900 {
		t.Errorf("got %d distinct delays in 1000 draws, want jitter to vary", len(seen))
	}
}

func TestNextNormalizesStatusAndCode(t *testing.T) {
	tests := []struct {
		in          chaos.Fault
		status      int
		code        codes.Code
		probability float64
	}{
		{chaos.Fault{Status: 503}, 503, codes.Unavailable, 1},
		{chaos.Fault{Status: 502}, 502, codes.Unavailable, 1},
		{chaos.Fault{Status: 429}, 429, codes.ResourceExhausted, 1},
		{chaos.Fault{Status: 504}, 504, codes.DeadlineExceeded, 1},
		{chaos.Fault{Status: 500}, 500, codes.Internal, 1},
		{chaos.Fault{Status: 501}, 501, codes.Unimplemented, 1},
		{chaos.Fault{Status: 404}, 404, codes.NotFound, 1},
		{chaos.Fault{Status: 418}, 418, codes.Unknown, 1},
		{chaos.Fault{Status: 599}, 599, codes.Unknown, 1},
		{chaos.Fault{Code: codes.Unavailable}, 503, codes.Unavailable, 1},
		{chaos.Fault{Code: codes.ResourceExhausted}, 429, codes.ResourceExhausted, 1},
		{chaos.Fault{Code: codes.DeadlineExceeded}, 504, codes.DeadlineExceeded, 1},
		{chaos.Fault{Code: codes.Unauthenticated}, 401, codes.Unauthenticated, 1},
		{chaos.Fault{Code: codes.FailedPrecondition}, 400, codes.FailedPrecondition, 1},
		{chaos.Fault{Code: codes.DataLoss}, 500, codes.DataLoss, 1},
		{chaos.Fault{Code: codes.Canceled}, 499, codes.Canceled, 1},
		{chaos.Fault{Status: 503, Code: codes.ResourceExhausted, Probability: 1}, 503, codes.ResourceExhausted, 1},
	}
	for _, tt := range tests {
		f, ok := mustNew(t, chaos.Config{Faults: []chaos.Fault{tt.in}}).Next()
		if !ok || f.Status != tt.status || f.Code != tt.code || f.Probability != tt.probability {
			t.Errorf("%v: got %v (status %d, code %v, probability %v), want status %d code %v probability %v",
				tt.in, ok, f.Status, f.Code, f.Probability, tt.status, tt.code, tt.probability)
		}
	}
}

// cascade is the demo's schedule: healthy → 503s → hanging → healthy.
var cascade = []chaos.Phase{
	{Name: "healthy", Duration: 10 * time.Second},
	{Name: "503s", Duration: 5 * time.Second, Faults: []chaos.Fault{{Status: 503, RetryAfter: time.Second}}},
	{Name: "hanging", Duration: 5 * time.Second, Faults: []chaos.Fault{{Hang: true}}},
	{Name: "recovered"},
}

// kindNow returns the current phase and the kind of fault a request gets now.
func kindNow(inj *chaos.Injector) (string, string) {
	f, ok := inj.Next()
	switch {
	case !ok:
		return inj.Phase(), "none"
	case f.Hang:
		return inj.Phase(), "hang"
	default:
		return inj.Phase(), f.String()
	}
}

func TestPhasesSwitchOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inj := mustNew(t, chaos.Config{Phases: cascade})
		start := time.Now()
		steps := []struct {
			at          time.Duration
			phase, kind string
		}{
			{0, "healthy", "none"},
			{10*time.Second - time.Nanosecond, "healthy", "none"},
			{10 * time.Second, "503s", "503 Unavailable Retry-After 1s"},
			{15*time.Second - time.Nanosecond, "503s", "503 Unavailable Retry-After 1s"},
			{15 * time.Second, "hanging", "hang"},
			{20 * time.Second, "recovered", "none"},
			{time.Hour, "recovered", "none"}, // the last phase holds
		}
		for _, s := range steps {
			time.Sleep(time.Until(start.Add(s.at))) // sleep-ok: fake time inside a synctest bubble
			if phase, kind := kindNow(inj); phase != s.phase || kind != s.kind {
				t.Errorf("at %v: got phase %q fault %q, want %q %q", s.at, phase, kind, s.phase, s.kind)
			}
		}
	})
}

func TestLoopingSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inj := mustNew(t, chaos.Config{Loop: true, Phases: []chaos.Phase{
			{Name: "up", Duration: 3 * time.Second},
			{Name: "down", Duration: time.Second, Faults: []chaos.Fault{{Reset: true}}},
		}})
		start := time.Now()
		var got []string
		for s := range 9 {
			time.Sleep(time.Until(start.Add(time.Duration(s)*time.Second + time.Second/2))) // sleep-ok: fake time inside a synctest bubble
			_, kind := kindNow(inj)
			got = append(got, inj.Phase()+"/"+kind)
		}
		want := "up/none up/none up/none down/reset up/none up/none up/none down/reset up/none"
		if strings.Join(got, " ") != want {
			t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
		}
	})
}

func TestStartInTheFutureAndRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now().Add(time.Minute)
		inj := mustNew(t, chaos.Config{Start: start, Phases: []chaos.Phase{
			{Name: "broken", Duration: 10 * time.Second, Faults: []chaos.Fault{{Status: 500}}},
			{Name: "fixed"},
		}})
		if got := inj.StartTime(); !got.Equal(start) {
			t.Errorf("StartTime() = %v, want %v", got, start)
		}
		if phase, kind := kindNow(inj); phase != "" || kind != "none" {
			t.Errorf("before the start: got %q %q, want no phase and no fault", phase, kind)
		}
		time.Sleep(time.Minute) // sleep-ok: fake time inside a synctest bubble
		if phase, kind := kindNow(inj); phase != "broken" || kind != "500 Internal" {
			t.Errorf("at the start: got %q %q, want broken 500", phase, kind)
		}
		time.Sleep(time.Hour) // sleep-ok: fake time inside a synctest bubble
		if phase, _ := kindNow(inj); phase != "fixed" {
			t.Errorf("an hour later: got %q, want fixed", phase)
		}
		inj.Restart()
		if got := inj.StartTime(); !got.Equal(time.Now()) {
			t.Errorf("after Restart, StartTime() = %v, want now %v", got, time.Now())
		}
		if phase, kind := kindNow(inj); phase != "broken" || kind != "500 Internal" {
			t.Errorf("after Restart: got %q %q, want broken 500", phase, kind)
		}
		if got := inj.Stats().Requests; got != 4 {
			t.Errorf("Requests = %d, want 4: Restart keeps the counters", got)
		}
	})
}

func TestPhaseAtAndDefaultNames(t *testing.T) {
	t0 := time.Now()
	inj := mustNew(t, chaos.Config{Start: t0, Phases: []chaos.Phase{
		{Duration: time.Second}, {Name: "b", Duration: time.Second}, {}}})
	for _, tt := range []struct {
		at   time.Duration
		want string
	}{{-time.Nanosecond, ""}, {0, "phase 1"}, {time.Second, "b"}, {2 * time.Second, "phase 3"}, {time.Hour, "phase 3"}} {
		if got := inj.PhaseAt(t0.Add(tt.at)); got != tt.want {
			t.Errorf("PhaseAt(start%+v) = %q, want %q", tt.at, got, tt.want)
		}
	}
	short := mustNew(t, chaos.Config{Faults: []chaos.Fault{{Status: 503}}})
	if got := short.Phase(); got != "phase 1" {
		t.Errorf("Faults shorthand: Phase() = %q, want %q", got, "phase 1")
	}
}

// A Start without a monotonic reading (as read from a file, say) is placed
// once; from then on the monotonic clock alone moves phases.
func TestStartWithoutMonotonicReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now().Add(time.Second).Round(0) // Round(0) strips the monotonic reading
		inj := mustNew(t, chaos.Config{Start: start, Phases: []chaos.Phase{{Name: "a", Duration: time.Second}, {Name: "b"}}})
		if got := inj.Phase(); got != "" {
			t.Errorf("before start: got %q", got)
		}
		time.Sleep(1500 * time.Millisecond) // sleep-ok: fake time inside a synctest bubble
		if got := inj.Phase(); got != "a" {
			t.Errorf("1.5s in: got %q, want a", got)
		}
	})
}

func TestStatsCountKinds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inj := mustNew(t, chaos.Config{Phases: []chaos.Phase{
			{Duration: time.Second, Faults: []chaos.Fault{{Latency: time.Millisecond, Status: 503}}},
			{Duration: time.Second, Faults: []chaos.Fault{{Hang: true}}},
			{Duration: time.Second, Faults: []chaos.Fault{{Latency: time.Millisecond, Reset: true}}},
			{Duration: time.Second},
		}})
		for range 4 {
			inj.Next()
			inj.Next()
			time.Sleep(time.Second) // sleep-ok: fake time inside a synctest bubble
		}
		want := chaos.Stats{Requests: 8, Faults: 6, Delays: 4, Errors: 2, Hangs: 2, Resets: 2}
		if got := inj.Stats(); got != want {
			t.Errorf("Stats() = %+v, want %+v", got, want)
		}
	})
}

func TestFaultAndPhaseString(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{chaos.Fault{}, "no fault"},
		{chaos.Fault{Probability: 0.3, Status: 503, RetryAfter: 2 * time.Second}, "30% 503 Retry-After 2s"},
		{chaos.Fault{Probability: 1, Code: codes.Unavailable}, "Unavailable"},
		{chaos.Fault{Latency: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}, "delay 50ms-60ms"},
		{chaos.Fault{Jitter: 10 * time.Millisecond}, "delay 0s-10ms"},
		{chaos.Fault{Status: 429, RetryAfterValue: "soon"}, `429 Retry-After "soon"`},
		{chaos.Fault{Probability: 0.05, Hang: true}, "5% hang"},
		{chaos.Fault{Latency: time.Second, Reset: true}, "delay 1s reset"},
		{chaos.Phase{Name: "healthy", Duration: time.Second}, "healthy 1s: healthy"},
		{chaos.Phase{Duration: time.Second}, "1s: healthy"},
		{chaos.Fault{Probability: 0.07, Status: 503}, "7% 503"},
		{chaos.Fault{Probability: 0.29, Status: 503}, "29% 503"},
		{chaos.Fault{Probability: 0.12345, Status: 503}, "12.35% 503"},
		{chaos.Phase{Name: "bad", Faults: []chaos.Fault{{Status: 503}, {Probability: 0.1, Reset: true}}}, "bad: 503; 10% reset"},
	}
	for _, tt := range tests {
		if got := tt.in.(interface{ String() string }).String(); got != tt.want {
			t.Errorf("%#v: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A one-phase schedule stops reading the clock once it has begun; one that
// begins later must still wait for its start.
func TestOnePhaseScheduleWaitsForItsStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inj := mustNew(t, chaos.Config{Start: time.Now().Add(time.Second), Faults: []chaos.Fault{{Status: 503}}})
		if got := pattern(inj, 3); got != "..." {
			t.Errorf("before the start: got %s, want no fault", got)
		}
		time.Sleep(time.Second) // sleep-ok: fake time inside a synctest bubble
		if got := pattern(inj, 3); got != "xxx" {
			t.Errorf("from the start: got %s, want faults", got)
		}
		inj.Restart()
		if got := pattern(inj, 3); got != "xxx" || inj.Phase() != "phase 1" {
			t.Errorf("after Restart: got %s in %q, want faults in phase 1", got, inj.Phase())
		}
	})
}
