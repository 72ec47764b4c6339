package simcc

import (
	"fmt"
	"testing"
	"time"
)

func TestExplore(t *testing.T) {
	now := time.Date(2025, 3, 13, 10, 30, 0, 0, time.UTC)
	t0 := time.Now()
	c := New(Config{Seed: 1, Clock: NewManualClock(now)})
	fmt.Println("build", time.Since(t0))
	calls := c.Calls(c.Start(), now)
	fmt.Println("calls", len(calls))
	out := map[Outcome]int{}
	reasons := map[string]int{}
	dirs := map[Direction]int{}
	perDay := map[int]int{}
	legR := map[string]int{}
	segR := map[string]int{}
	for _, k := range calls {
		out[k.Outcome]++
		reasons[k.EndReason]++
		dirs[k.Direction]++
		perDay[k.StartedAt.Day()]++
		for _, l := range k.Legs {
			legR[l.EndReason]++
		}
		for _, s := range k.Segments {
			segR[s.Reason]++
		}
	}
	fmt.Println(out, "\n", reasons, "\n", dirs, "\n", perDay, "\n", legR, "\n", segR)
	for _, q := range c.Queues() {
		for d := 0; d < 4; d++ {
			f := c.Start().AddDate(0, 0, d)
			st := c.QueueStats(q.ID, f, f.AddDate(0, 0, 1))
			sl := -1.0
			if st.ServiceLevel != nil {
				sl = *st.ServiceLevel
			}
			asa, aht := -1.0, -1.0
			if st.AverageSpeedOfAnswerSeconds != nil {
				asa = *st.AverageSpeedOfAnswerSeconds
			}
			if st.AverageHandleSeconds != nil {
				aht = *st.AverageHandleSeconds
			}
			fmt.Printf("%s %s off=%d ans=%d ab=%d short=%d sl=%.2f asa=%.0f aht=%.0f cb=%d wait=%d %v\n", q.ID, f.Weekday(), st.Offered, st.Answered, st.Abandoned, st.ShortAbandoned, sl, asa, aht, st.Callbacks, st.CallsWaiting, st.AgentsByState)
		}
	}
	fmt.Println(c.AgentStatuses())
	fmt.Println(len(c.ActiveCalls()))
	sp := c.AgentSpans("a01", c.Start().Add(48*time.Hour), c.Start().Add(72*time.Hour))
	for _, s := range sp[:min(40, len(sp))] {
		fmt.Println(s.From.Format("15:04:05"), s.To.Format("15:04:05"), s.State, s.Reason, s.CallID)
	}
}

func TestExploreHourly(t *testing.T) {
	now := time.Date(2025, 3, 13, 10, 30, 0, 0, time.UTC)
	c := New(Config{Seed: 1, Clock: NewManualClock(now)})
	d := c.Start().AddDate(0, 0, 1)
	for h := 0; h < 24; h++ {
		f := d.Add(time.Duration(h) * time.Hour)
		var off, ans, ab, within, short int
		for _, q := range c.Queues() {
			st := c.QueueStats(q.ID, f, f.Add(time.Hour))
			off += st.Offered
			ans += st.Answered
			ab += st.Abandoned
			within += st.AnsweredWithinSLA
			short += st.ShortAbandoned
		}
		fmt.Printf("%02d off=%d ans=%d ab=%d sl=%.2f\n", h, off, ans, ab, float64(within)/float64(max(1, off-short)))
	}
}
