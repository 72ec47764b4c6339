package simcc

import (
	"context"
	"math"
	"reflect"
	"regexp"
	"testing"
	"time"
)

// testNow() is a Thursday morning, so three weekdays of history precede it.
func testNow() time.Time { return time.Date(2025, 3, 13, 10, 30, 0, 0, time.UTC) }

func newCenter(t testing.TB, seed uint64, now time.Time) (*Center, *ManualClock) {
	t.Helper()
	clk := NewManualClock(now)
	return New(Config{Name: "Acme Support", Seed: seed, Clock: clk}), clk
}

func TestDeterminism(t *testing.T) {
	a, _ := newCenter(t, 7, testNow())
	b, _ := newCenter(t, 7, testNow())
	other, _ := newCenter(t, 8, testNow())
	ca, cb := a.Calls(a.Start(), testNow()), b.Calls(b.Start(), testNow())
	if len(ca) < 3000 {
		t.Fatalf("only %d calls in 3.4 days", len(ca))
	}
	if !reflect.DeepEqual(ca, cb) {
		t.Fatal("same seed, different calls")
	}
	for _, ag := range a.Agents() {
		if !reflect.DeepEqual(a.AgentSpans(ag.ID, a.Start(), testNow()), b.AgentSpans(ag.ID, b.Start(), testNow())) {
			t.Fatalf("same seed, different spans for %s", ag.ID)
		}
	}
	if !reflect.DeepEqual(a.Agents(), b.Agents()) || !reflect.DeepEqual(a.Queues(), b.Queues()) {
		t.Fatal("same seed, different agents or queues")
	}
	if reflect.DeepEqual(ca, other.Calls(other.Start(), testNow())) {
		t.Fatal("different seeds, same calls")
	}
}

// The result must not depend on how the clock got to now: one build equals a short
// history advanced in uneven steps, with views read on the way.
func TestIncrementalEqualsBatch(t *testing.T) {
	batch, _ := newCenter(t, 3, testNow())
	clk := NewManualClock(time.Date(2025, 3, 11, 1, 0, 0, 0, time.UTC))
	inc := New(Config{Name: "Acme Support", Seed: 3, Clock: clk, HistoryDays: 1})
	if !inc.Start().Equal(batch.Start()) {
		t.Fatalf("starts differ: %v vs %v", inc.Start(), batch.Start())
	}
	step := 37 * time.Second
	for clk.Now().Before(testNow()) {
		clk.Advance(min(step, testNow().Sub(clk.Now())))
		step = step*7%(53*time.Minute) + time.Second
		if step%3 == 0 {
			inc.ActiveCalls()
		} else {
			inc.Sync()
		}
	}
	if !reflect.DeepEqual(batch.Calls(batch.Start(), testNow()), inc.Calls(inc.Start(), testNow())) {
		t.Fatal("stepwise simulation differs from one build")
	}
	for _, ag := range batch.Agents() {
		if !reflect.DeepEqual(batch.AgentSpans(ag.ID, batch.Start(), testNow()), inc.AgentSpans(ag.ID, inc.Start(), testNow())) {
			t.Fatalf("stepwise spans differ for %s", ag.ID)
		}
	}
}

func TestCallInvariants(t *testing.T) {
	c, _ := newCenter(t, 11, testNow())
	calls := c.Calls(c.Start(), testNow())
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	e164 := regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	ids, uuids := map[string]bool{}, map[string]bool{}
	queues := map[string]Queue{}
	for _, q := range c.Queues() {
		queues[q.ID] = q
	}
	var prev Call
	for i, k := range calls {
		if k.Seq != int64(i+1) || ids[k.ID] || uuids[k.UUID] || !uuidRE.MatchString(k.UUID) {
			t.Fatalf("call %d: bad or duplicate identity %s %d %s", i, k.ID, k.Seq, k.UUID)
		}
		ids[k.ID], uuids[k.UUID] = true, true
		if i > 0 && k.StartedAt.Before(prev.StartedAt) {
			t.Fatalf("%s starts before %s", k.ID, prev.ID)
		}
		prev = k
		if k.Direction != DirectionInternal && !e164.MatchString(k.Customer) || !e164.MatchString(k.ServiceNumber) && k.Direction != DirectionInternal {
			t.Fatalf("%s: numbers %q %q", k.ID, k.Customer, k.ServiceNumber)
		}
		checkCall(t, k, queues)
	}
}

func checkCall(t *testing.T, k Call, queues map[string]Queue) {
	t.Helper()
	fail := func(msg string) { t.Helper(); t.Fatalf("%s: %s\n%+v", k.ID, msg, k) }
	ended := !k.EndedAt.IsZero()
	if ended == (k.Outcome == OutcomeInProgress) || ended != (k.EndReason != "") {
		fail("outcome, end reason and EndedAt disagree")
	}
	if ended && (k.EndedAt.Before(k.StartedAt) || k.EndedAt.Sub(k.StartedAt) > maxCallSpan*time.Second) {
		fail("bad EndedAt")
	}
	last := k.StartedAt
	after := func(t time.Time, what string) {
		if !t.IsZero() {
			if t.Before(last) || ended && t.After(k.EndedAt) {
				fail(what + " out of order")
			}
			last = t
		}
	}
	if k.IVRID != "" {
		after(k.IVRAt, "IVRAt")
		after(k.IVRLeftAt, "IVRLeftAt")
		if k.Digit != "" && len(k.Segments) > 0 && queues[k.Segments[0].QueueID].Digit != k.Digit {
			fail("digit does not lead to the first queue")
		}
	}
	open := 0
	for _, s := range k.Segments {
		after(s.EnteredAt, "segment entry")
		if s.LeftAt.IsZero() {
			open++
			if ended || s.Answered || s.Abandoned || s.Reason != "" {
				fail("open segment with an outcome")
			}
			continue
		}
		after(s.LeftAt, "segment exit")
		if s.Answered != (s.Reason == "answered") || s.Abandoned != (s.Reason == "abandon") || s.Answered != (s.AgentID != "") {
			fail("segment flags disagree with reason " + s.Reason)
		}
		if s.Answered && !hasLeg(k, func(l Leg) bool {
			return l.AgentID == s.AgentID && l.QueueID == s.QueueID && l.AnsweredAt.Equal(s.LeftAt)
		}) {
			fail("answered segment without its leg")
		}
	}
	if open > 1 {
		fail("two open segments")
	}
	firstAnswer := time.Time{}
	holds, wraps, transfers := 0, 0, 0
	for _, l := range k.Legs {
		if l.OfferedAt.Before(k.StartedAt) || ended && l.OfferedAt.After(k.EndedAt) {
			fail("leg offered out of range")
		}
		if l.Answered != !l.AnsweredAt.IsZero() {
			fail("leg Answered flag")
		}
		if l.Answered {
			if l.AnsweredAt.Before(l.OfferedAt) || l.RingSeconds != int(l.AnsweredAt.Sub(l.OfferedAt)/time.Second) {
				fail("leg ring")
			}
			if firstAnswer.IsZero() || l.AnsweredAt.Before(firstAnswer) {
				firstAnswer = l.AnsweredAt
			}
		}
		if l.EndedAt.IsZero() {
			if ended {
				fail("open leg on an ended call")
			}
			continue
		}
		if ended && l.EndedAt.After(k.EndedAt) || l.EndReason == "" {
			fail("leg end")
		}
		if l.Answered && l.TalkSeconds+l.HoldSeconds != int(l.EndedAt.Sub(l.AnsweredAt)/time.Second) {
			fail("talk + hold != answered..ended")
		}
		if !l.Answered && (l.TalkSeconds != 0 || l.RingSeconds != int(l.EndedAt.Sub(l.OfferedAt)/time.Second)) {
			fail("unanswered leg durations")
		}
		if l.TransferredOut != (l.EndReason == "transferred") || (l.TransferredIn || l.TransferredOut) != (l.TransferType != "") {
			fail("transfer flags")
		}
		holds += l.HoldSeconds
		wraps += l.WrapUpSeconds
		if l.TransferredOut {
			transfers++
		}
	}
	if !firstAnswer.Equal(k.AnsweredAt) {
		fail("AnsweredAt is not the first answered leg")
	}
	if holds != k.HoldSeconds || wraps != k.WrapUpSeconds || transfers != k.Transfers {
		fail("call totals disagree with legs")
	}
	if k.Outcome == OutcomeAnswered != !k.AnsweredAt.IsZero() && ended {
		fail("ANSWERED iff answered")
	}
	if k.Outcome == OutcomeCallback != k.CallbackRequested {
		fail("callback flag")
	}
	if k.CallbackOf != "" && k.Direction != DirectionOutbound {
		fail("callback that is not outbound")
	}
}

func hasLeg(k Call, f func(Leg) bool) bool {
	for _, l := range k.Legs {
		if f(l) {
			return true
		}
	}
	return false
}

func TestAgentSpans(t *testing.T) {
	c, _ := newCenter(t, 5, testNow())
	calls := c.Calls(c.Start(), testNow())
	byID := map[string]Call{}
	talk := map[string][][2]time.Time{} // agent → answered..ended of its legs
	for _, k := range calls {
		byID[k.ID] = k
		for _, l := range k.Legs {
			if l.Answered {
				end := l.EndedAt
				if end.IsZero() {
					end = testNow()
				}
				talk[l.AgentID] = append(talk[l.AgentID], [2]time.Time{l.AnsweredAt, end})
			}
		}
	}
	for _, ag := range c.Agents() {
		spans := c.AgentSpans(ag.ID, c.Start(), testNow().Add(time.Hour))
		if len(spans) < 50 || !spans[0].From.Equal(c.Start()) || spans[0].State != StateOffline {
			t.Fatalf("%s: %d spans, first %+v", ag.ID, len(spans), spans[0])
		}
		for i, s := range spans {
			last := i == len(spans)-1
			if last != s.To.IsZero() || !last && (!s.To.After(s.From) || !s.To.Equal(spans[i+1].From)) {
				t.Fatalf("%s: span %d %+v does not tile", ag.ID, i, s)
			}
			if i > 0 && s.State == spans[i-1].State && s.Reason == spans[i-1].Reason && s.CallID == spans[i-1].CallID {
				t.Fatalf("%s: span %d repeats its predecessor", ag.ID, i)
			}
			switch s.State {
			case StateRinging, StateOnCall, StateOnHold, StateWrapUp:
				k, ok := byID[s.CallID]
				if !ok || !hasLeg(k, func(l Leg) bool { return l.AgentID == ag.ID }) {
					t.Fatalf("%s: span %+v names a call without its leg", ag.ID, s)
				}
			case StateNotReady:
				if s.Reason == "" {
					t.Fatalf("%s: NOT_READY without a reason", ag.ID)
				}
			}
		}
		st := c.AgentStatuses()
		cur := spans[len(spans)-1]
		for _, x := range st {
			if x.AgentID == ag.ID && (x.State != cur.State || !x.Since.Equal(cur.From) || x.CallID != cur.CallID) {
				t.Fatalf("%s: status %+v, last span %+v", ag.ID, x, cur)
			}
		}
		// Never talking on two calls at once.
		iv := talk[ag.ID]
		for i := 1; i < len(iv); i++ {
			for j := range i {
				if iv[i][0].Before(iv[j][1]) && iv[j][0].Before(iv[i][1]) {
					t.Fatalf("%s talks on two calls: %v and %v", ag.ID, iv[j], iv[i])
				}
			}
		}
		// A window in the middle returns exactly the overlapping spans.
		from, to := testNow().Add(-26*time.Hour), testNow().Add(-20*time.Hour)
		var want []AgentSpan
		for _, s := range spans {
			if s.From.Before(to) && (s.To.IsZero() || s.To.After(from)) {
				want = append(want, s)
			}
		}
		if got := c.AgentSpans(ag.ID, from, to); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: window spans differ: %d vs %d", ag.ID, len(got), len(want))
		}
	}
	if c.AgentSpans("nobody", c.Start(), testNow()) != nil {
		t.Fatal("spans for an unknown agent")
	}
}

// recount computes QueueStats from Calls() alone, as a consumer would.
func recount(c *Center, q Queue, from, to, now time.Time) QueueStats {
	st := QueueStats{QueueID: q.ID, From: from, To: to, SLASeconds: q.SLASeconds}
	var asa, wait, handle mean
	for _, k := range c.Calls(c.Start(), now.Add(time.Second)) {
		for _, s := range k.Segments {
			if s.QueueID != q.ID {
				continue
			}
			if s.LeftAt.IsZero() {
				st.CallsWaiting++
				st.LongestWaitSeconds = max(st.LongestWaitSeconds, int(now.Sub(s.EnteredAt)/time.Second))
			}
			if s.EnteredAt.Before(from) || !s.EnteredAt.Before(to) {
				continue
			}
			st.Offered++
			w := int(s.LeftAt.Sub(s.EnteredAt).Seconds())
			if !s.LeftAt.IsZero() {
				wait.add(w)
			}
			if s.Answered {
				st.Answered++
				asa.add(w)
				if w <= q.SLASeconds {
					st.AnsweredWithinSLA++
				}
				for _, l := range k.Legs {
					if l.AgentID == s.AgentID && l.QueueID == q.ID && l.AnsweredAt.Equal(s.LeftAt) {
						if !l.EndedAt.IsZero() {
							handle.add(l.TalkSeconds + l.HoldSeconds + l.WrapUpSeconds)
						}
						break
					}
				}
			}
			if s.Abandoned {
				st.Abandoned++
				if w < 5 {
					st.ShortAbandoned++
				}
			}
			if s.Reason == "callback" {
				st.Callbacks++
			}
		}
	}
	if d := st.Offered - st.ShortAbandoned; d > 0 {
		v := float64(st.AnsweredWithinSLA) / float64(d)
		st.ServiceLevel = &v
	}
	st.AverageSpeedOfAnswerSeconds, st.AverageWaitSeconds, st.AverageHandleSeconds = asa.value(), wait.value(), handle.value()
	return st
}

func TestQueueStatsRecount(t *testing.T) {
	c, _ := newCenter(t, 9, testNow())
	ranges := [][2]time.Time{
		{c.Start(), testNow().Add(time.Hour)},
		{c.Start().AddDate(0, 0, 1), c.Start().AddDate(0, 0, 2)},
		{testNow().Add(-90 * time.Minute), testNow().Add(-30 * time.Minute).Add(500 * time.Millisecond)},
		{testNow().Add(-10 * time.Minute), testNow()},
		{testNow().AddDate(0, 0, -10), testNow().AddDate(0, 0, -9)},
	}
	var waiting int
	for _, q := range c.Queues() {
		for _, r := range ranges {
			got := c.QueueStats(q.ID, r[0], r[1])
			want := recount(c, q, r[0], r[1], testNow())
			states := 0
			for _, n := range got.AgentsByState {
				states += n
			}
			got.AgentsByState = nil
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %v: stats %+v\nrecount %+v", q.ID, r, got, want)
			}
			if r[1].Sub(r[0]) > 48*time.Hour && (got.Offered < 300 || got.ServiceLevel == nil || got.AverageHandleSeconds == nil) {
				t.Fatalf("%s: implausible stats %+v", q.ID, got)
			}
			if members := countMembers(c, q.ID); states != members {
				t.Fatalf("%s: %d agents by state, %d members", q.ID, states, members)
			}
			waiting += got.CallsWaiting
		}
	}
	if st := c.QueueStats("nope", c.Start(), testNow()); st.Offered != 0 || st.ServiceLevel != nil {
		t.Fatalf("unknown queue: %+v", st)
	}
}

func countMembers(c *Center, qid string) int {
	n := 0
	for _, a := range c.Agents() {
		for _, q := range a.QueueIDs {
			if q == qid {
				n++
			}
		}
	}
	return n
}

// The model should look like a contact center: most calls answered, a decent service level.
func TestPlausibleFigures(t *testing.T) {
	c, _ := newCenter(t, 1, testNow())
	var offered, answered, within, short, abandoned int
	for _, q := range c.Queues() {
		st := c.QueueStats(q.ID, c.Start(), testNow())
		offered += st.Offered
		answered += st.Answered
		within += st.AnsweredWithinSLA
		short += st.ShortAbandoned
		abandoned += st.Abandoned
	}
	sl := float64(within) / float64(offered-short)
	if sl < 0.6 || sl > 0.97 || float64(answered)/float64(offered) < 0.7 || float64(abandoned)/float64(offered) > 0.25 {
		t.Fatalf("implausible: offered %d answered %d abandoned %d sl %.2f", offered, answered, abandoned, sl)
	}
	// Weekends are quiet: Saturday 2025-03-08 against Monday 2025-03-10.
	w, _ := newCenter(t, 1, time.Date(2025, 3, 11, 9, 0, 0, 0, time.UTC))
	sat := len(w.Calls(time.Date(2025, 3, 8, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 9, 0, 0, 0, 0, time.UTC)))
	mon := len(w.Calls(time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 11, 0, 0, 0, 0, time.UTC)))
	night := len(w.Calls(time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 10, 5, 0, 0, 0, time.UTC)))
	if sat == 0 || float64(sat) > 0.5*float64(mon) || night == 0 || night > mon/20 {
		t.Fatalf("saturday %d, monday %d, monday night %d", sat, mon, night)
	}
}

func TestCoverage(t *testing.T) {
	c, _ := newCenter(t, 2, testNow())
	seen := map[string]bool{}
	for _, k := range c.Calls(c.Start(), testNow()) {
		seen["outcome:"+string(k.Outcome)] = true
		seen["dir:"+string(k.Direction)] = true
		seen["end:"+k.EndReason] = true
		if k.CallbackOf != "" {
			seen["callback-call"] = true
		}
		if k.IVRID != "" && k.Digit == "" && k.EndedAt.Equal(k.IVRLeftAt) {
			seen["ivr-hangup"] = true
		}
		for _, s := range k.Segments {
			seen["seg:"+s.Reason] = true
			if s.Abandoned && s.LeftAt.Sub(s.EnteredAt) < 5*time.Second {
				seen["short-abandon"] = true
			}
		}
		for _, l := range k.Legs {
			seen["leg:"+l.EndReason] = true
			if l.TransferType != "" {
				seen["transfer:"+l.TransferType] = true
			}
			if l.HoldSeconds > 0 {
				seen["hold"] = true
			}
		}
	}
	for _, a := range c.Agents() {
		for _, s := range c.AgentSpans(a.ID, c.Start(), testNow()) {
			seen["state:"+string(s.State)] = true
			if s.Reason != "" {
				seen["reason:"+s.Reason] = true
			}
		}
	}
	for _, q := range c.Queues() {
		seen["strategy:"+q.Strategy] = true
	}
	want := []string{"callback-call", "ivr-hangup", "short-abandon", "hold", "transfer:blind", "transfer:attended",
		"dir:INBOUND", "dir:OUTBOUND", "dir:INTERNAL",
		"seg:answered", "seg:abandon", "seg:timeout", "seg:callback", "seg:transfer",
		"leg:customer_hangup", "leg:agent_hangup", "leg:transferred", "leg:no_answer", "leg:answered_elsewhere",
		"end:customer_hangup", "end:agent_hangup", "end:abandon", "end:voicemail", "end:callback_requested",
		"end:no_answer", "end:busy", "end:failed",
		"reason:break", "reason:lunch", "reason:meeting", "reason:missed_call",
		"strategy:rrmemory", "strategy:ringall", "strategy:leastrecent"}
	for _, o := range []Outcome{OutcomeAnswered, OutcomeAbandoned, OutcomeMissed, OutcomeVoicemail, OutcomeCallback, OutcomeFailed, OutcomeInProgress} {
		want = append(want, "outcome:"+string(o))
	}
	for _, s := range AllAgentStates() {
		want = append(want, "state:"+string(s))
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("never seen %s", w)
		}
	}
}

// Once a call has ended, later views of it never change; earlier views never show the future.
func TestViewsAreStable(t *testing.T) {
	c, clk := newCenter(t, 4, testNow())
	before := c.Calls(testNow().Add(-3*time.Hour), testNow())
	clk.Advance(2 * time.Hour)
	for _, old := range before {
		now, ok := c.Call(old.ID)
		if !ok {
			t.Fatalf("%s vanished", old.ID)
		}
		if old.Outcome != OutcomeInProgress && !reflect.DeepEqual(old, now) {
			t.Fatalf("ended call changed:\n%+v\n%+v", old, now)
		}
		if old.Outcome == OutcomeInProgress && (now.Outcome == OutcomeInProgress || len(now.Legs) < len(old.Legs)) {
			t.Fatalf("%s still in progress two hours later", old.ID)
		}
	}
	if _, ok := c.Call("c999999"); ok {
		t.Fatal("a call from the future")
	}
	for _, id := range []string{"", "c", "x1", "c0", "c-1", "c1x", "c01"} {
		if _, ok := c.Call(id); ok {
			t.Fatalf("found %q", id)
		}
	}
	all := c.Calls(c.Start(), clk.Now().Add(time.Hour))
	if last := all[len(all)-1]; last.StartedAt.After(clk.Now()) {
		t.Fatalf("call from the future: %+v", last)
	}
	if got, _ := c.Call(all[100].ID); !reflect.DeepEqual(got, all[100]) {
		t.Fatal("Call and Calls disagree")
	}
}

func TestActiveCalls(t *testing.T) {
	c, clk := newCenter(t, 6, testNow())
	active := c.ActiveCalls()
	if len(active) == 0 {
		t.Fatal("no active calls on a weekday morning")
	}
	for _, k := range active {
		if k.Outcome != OutcomeInProgress || !k.EndedAt.IsZero() || k.StartedAt.After(testNow()) {
			t.Fatalf("not active: %+v", k)
		}
		for _, x := range k.Segments {
			if x.EnteredAt.After(testNow()) || x.LeftAt.After(testNow()) {
				t.Fatalf("segment from the future: %+v", k)
			}
		}
		for _, l := range k.Legs {
			if l.OfferedAt.After(testNow()) || l.AnsweredAt.After(testNow()) || l.EndedAt.After(testNow()) {
				t.Fatalf("leg from the future: %+v", k)
			}
		}
	}
	clk.Advance(maxCallSpan * time.Second)
	for _, k := range active {
		now, _ := c.Call(k.ID)
		if now.Outcome == OutcomeInProgress || now.EndedAt.IsZero() {
			t.Fatalf("%s never ended", k.ID)
		}
	}
	for _, k := range c.ActiveCalls() {
		for _, old := range active {
			if k.ID == old.ID {
				t.Fatalf("%s still active", k.ID)
			}
		}
	}
}

func drain(ch <-chan Event) []Event {
	var out []Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

func TestEventsInOrder(t *testing.T) {
	c, clk := newCenter(t, 12, testNow())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.Subscribe(ctx, 1<<16)
	subAt := clk.Now()
	var events []Event
	for range 240 {
		clk.Advance(30 * time.Second)
		c.Sync()
		got := drain(ch)
		for _, ev := range got {
			if ev.At.After(clk.Now()) || !ev.At.After(subAt) {
				t.Fatalf("event outside (sub, now]: %+v", ev)
			}
		}
		events = append(events, got...)
	}
	end := clk.Now()
	for i := 1; i < len(events); i++ {
		if events[i].At.Before(events[i-1].At) {
			t.Fatalf("event %d out of order: %+v after %+v", i, events[i], events[i-1])
		}
	}
	if c.DroppedEvents() != 0 {
		t.Fatalf("dropped %d with a large buffer", c.DroppedEvents())
	}
	type key struct {
		typ        EventType
		at         time.Time
		call, who  string
		state      AgentState
		outcomeOrR string
	}
	have := map[key]bool{}
	for _, ev := range events {
		have[key{ev.Type, ev.At, ev.CallID, ev.AgentID, ev.State, string(ev.Outcome)}] = true
	}
	need := func(k key) {
		t.Helper()
		if !have[k] {
			t.Fatalf("missing event %+v", k)
		}
	}
	in := func(x time.Time) bool { return x.After(subAt) && !x.After(end) }
	calls := c.Calls(subAt.Add(-maxCallSpan*time.Second), end.Add(time.Second))
	started := 0
	for _, k := range calls {
		if in(k.StartedAt) {
			need(key{EventCallStarted, k.StartedAt, k.ID, "", "", ""})
			started++
		}
		if in(k.EndedAt) {
			need(key{EventCallEnded, k.EndedAt, k.ID, "", "", string(k.Outcome)})
		}
		for _, l := range k.Legs {
			if in(l.AnsweredAt) {
				need(key{EventCallAnswered, l.AnsweredAt, k.ID, l.AgentID, "", ""})
			}
		}
	}
	if started < 100 {
		t.Fatalf("only %d calls in two hours", started)
	}
	for _, a := range c.Agents() {
		for _, s := range c.AgentSpans(a.ID, subAt, end) {
			if in(s.From) {
				need(key{EventAgentState, s.From, s.CallID, a.ID, s.State, ""})
			}
		}
	}
	n := 0
	for _, ev := range events {
		if ev.Type == EventCallStarted {
			n++
		}
	}
	if n != started {
		t.Fatalf("%d CALL_STARTED events for %d calls", n, started)
	}
}

func TestSlowSubscriberNeverBlocks(t *testing.T) {
	c, clk := newCenter(t, 13, testNow())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.Subscribe(ctx, 1)
	for range 120 {
		clk.Advance(30 * time.Second)
		c.Sync()
	}
	if c.DroppedEvents() == 0 {
		t.Fatal("nothing dropped for a reader that never reads")
	}
	if ev := <-ch; ev.At.After(clk.Now()) || ev.At.Before(testNow().Add(59*time.Minute)) {
		t.Fatalf("the kept event is not the newest: %+v", ev)
	}
}

func waitClosed(t *testing.T, ch <-chan Event) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("subscription not closed")
		}
	}
}

func TestSubscriptionLifecycle(t *testing.T) {
	c, clk := newCenter(t, 14, testNow())
	ctx, cancel := context.WithCancel(context.Background())
	ch := c.Subscribe(ctx, 8)
	keep := c.Subscribe(context.Background(), 8)
	cancel()
	waitClosed(t, ch)
	clk.Advance(time.Minute)
	c.Sync()
	c.Close()
	c.Close()
	waitClosed(t, keep)
	waitClosed(t, c.Subscribe(context.Background(), 8))
	if len(c.Calls(c.Start(), testNow())) == 0 {
		t.Fatal("views stop working after Close")
	}
}

func TestRun(t *testing.T) {
	c, clk := newCenter(t, 15, testNow())
	ctx, cancel := context.WithCancel(context.Background())
	ch := c.Subscribe(ctx, 4096)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	clk.Advance(10 * time.Minute)
	select {
	case ev := <-ch:
		if ev.At.After(clk.Now()) {
			t.Fatalf("future event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run published nothing")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestConfig(t *testing.T) {
	clk := NewManualClock(testNow())
	c := New(Config{Clock: clk, Agents: -1, Queues: 1000, HistoryDays: -3, PeakCallsPerHour: math.NaN()})
	cfg := c.Config()
	if cfg.Agents != 12 || cfg.Queues != 50 || cfg.HistoryDays != 3 || cfg.PeakCallsPerHour != 120 || cfg.Name == "" {
		t.Fatalf("defaults: %+v", cfg)
	}
	if len(c.Queues()) != 50 || len(c.IVRs()) != 6 || c.Queues()[49].IVRID != "i6" || c.Queues()[9].Digit != "1" {
		t.Fatal("queues or IVRs")
	}
	if !c.Start().Equal(time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("start %v", c.Start())
	}
	one := New(Config{Clock: clk, Agents: 1, Queues: 1, Name: "  Ünïcode & Co  "})
	if a := one.Agents(); len(a) != 1 || a[0].ID != "a01" || !regexp.MustCompile(`^[a-z]+\.[a-z]+@[a-z0-9-]+\.example$`).MatchString(a[0].Email) {
		t.Fatalf("agents %+v", a)
	}
	if len(one.Calls(one.Start(), testNow())) == 0 {
		t.Fatal("a one-agent center has no calls")
	}
	if busy := New(Config{Clock: clk, PeakCallsPerHour: 600}).Config(); busy.Agents != 60 {
		t.Fatalf("%d agents for 600 calls/h", busy.Agents)
	}
	big := New(Config{Clock: clk, Agents: 150})
	if a := big.Agents(); a[0].ID != "a001" || a[149].ID != "a150" {
		t.Fatalf("ids %s %s", a[0].ID, a[149].ID)
	}
}

func BenchmarkNew(b *testing.B) {
	for i := range b.N {
		c := New(Config{Seed: uint64(i), Clock: NewManualClock(testNow())})
		if len(c.e.calls) == 0 {
			b.Fatal("no calls")
		}
	}
}

// TestUTCOffsetMovesTheWorkingDay: at 03:00 UTC an office center is quiet, while the same
// center placed where it is 11:00 local is busy and staffed.
func TestUTCOffsetMovesTheWorkingDay(t *testing.T) {
	now := time.Date(2026, 11, 18, 3, 0, 0, 0, time.UTC) // a Wednesday
	count := func(off time.Duration) (calls, staffed int) {
		c := New(Config{Seed: 7, Clock: NewManualClock(now), HistoryDays: 1, UTCOffset: off})
		calls = len(c.Calls(now.Add(-time.Hour), now))
		for _, s := range c.AgentStatuses() {
			if s.State != StateOffline {
				staffed++
			}
		}
		return calls, staffed
	}
	quietCalls, quietStaff := count(0)
	busyCalls, busyStaff := count(8 * time.Hour)
	if busyCalls < 5*max(quietCalls, 1) || busyStaff <= quietStaff {
		t.Fatalf("offset 0: %d calls, %d agents on; offset +8h: %d calls, %d agents on", quietCalls, quietStaff, busyCalls, busyStaff)
	}
}
