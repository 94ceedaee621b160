package rollingupdate

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// What a run's time goes to.
const (
	spentWaits        = "configured waits"
	spentDrains       = "drains"
	spentReplacements = "replacements"
)

// timeline records intervals of waiting per category. Machines of a wave
// overlap, so each category's total is the union of its intervals, and the
// overhead is what no category covers.
type timeline struct {
	mu        sync.Mutex
	intervals map[string][][2]time.Time
}

func newTimeline() *timeline { return &timeline{intervals: map[string][][2]time.Time{}} }

// track starts an interval of category; call the result to end it.
func (t *timeline) track(category string) func() {
	start := time.Now()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.intervals[category] = append(t.intervals[category], [2]time.Time{start, time.Now()})
	}
}

// spent is the union length of the categories' intervals.
func (t *timeline) spent(categories ...string) time.Duration {
	t.mu.Lock()
	var all [][2]time.Time
	for _, c := range categories {
		all = append(all, t.intervals[c]...)
	}
	t.mu.Unlock()
	slices.SortFunc(all, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var total time.Duration
	var cur [2]time.Time
	for i, iv := range all {
		switch {
		case i == 0:
			cur = iv
		case !iv[0].After(cur[1]):
			if iv[1].After(cur[1]) {
				cur[1] = iv[1]
			}
		default:
			total += cur[1].Sub(cur[0])
			cur = iv
		}
	}
	if len(all) > 0 {
		total += cur[1].Sub(cur[0])
	}
	return total
}

// Summary is what a run did and where its time went.
type Summary struct {
	Replaced []string // machine IDs
	Total    time.Duration
	// Waits is time in configured waits (--post-drain-delay, intervals, and
	// the spacing of repeated validations); Drains time draining;
	// Replacements time waiting for replacements to run, join and validate.
	Waits, Drains, Replacements time.Duration
	// Overhead is the wall time none of those cover.
	Overhead time.Duration
	// Stopped says the run ended with an error.
	Stopped bool
}

func (t *timeline) summary(replaced []string, total time.Duration) *Summary {
	s := &Summary{
		Replaced:     replaced,
		Total:        total,
		Waits:        t.spent(spentWaits),
		Drains:       t.spent(spentDrains),
		Replacements: t.spent(spentReplacements),
	}
	s.Overhead = max(0, total-t.spent(spentWaits, spentDrains, spentReplacements))
	return s
}

// OverheadPerMachine is the overhead divided among the replaced machines.
func (s *Summary) OverheadPerMachine() time.Duration {
	return s.Overhead / time.Duration(max(1, len(s.Replaced)))
}

// Print writes the summary.
func (s *Summary) Print(w io.Writer, cluster string) {
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	verb := "finished"
	if s.Stopped {
		verb = "stopped"
	}
	plural := ""
	if len(s.Replaced) != 1 {
		plural = "s"
	}
	fmt.Fprintf(w, "Rolling update of cluster %s %s after %s: %d machine%s replaced.\n", cluster, verb, r(s.Total), len(s.Replaced), plural)
	fmt.Fprintf(w, "  configured waits:          %s\n", r(s.Waits))
	fmt.Fprintf(w, "  waiting for drains:        %s\n", r(s.Drains))
	fmt.Fprintf(w, "  waiting for replacements:  %s\n", r(s.Replacements))
	fmt.Fprintf(w, "  overhead:                  %s (%s per machine)\n", r(s.Overhead), r(s.OverheadPerMachine()))
}
