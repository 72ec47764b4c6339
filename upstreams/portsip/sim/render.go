package sim

import (
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// maxCallSpan is how long before a range a call may start and still touch it (simcc caps
// calls at 4 h).
const maxCallSpan = 4 * time.Hour

// intervals are the queue and agent timeseries buckets the document allows.
var intervals = map[string]time.Duration{"1h": time.Hour, "2h": 2 * time.Hour, "3h": 3 * time.Hour, "4h": 4 * time.Hour, "6h": 6 * time.Hour, "8h": 8 * time.Hour}

func (s *Server) queueIndex(number string) (simcc.Queue, bool) {
	for i, q := range s.center.Queues() {
		if QueueNumber(i) == number {
			return q, true
		}
	}
	return simcc.Queue{}, false
}

func (s *Server) agentByNumber(number string) (simcc.Agent, bool) {
	for _, a := range s.center.Agents() {
		if a.Extension == number {
			return a, true
		}
	}
	return simcc.Agent{}, false
}

func (s *Server) numbers() (queues map[string]string, agents map[string]simcc.Agent) {
	queues = map[string]string{}
	for i, q := range s.center.Queues() {
		queues[q.ID] = QueueNumber(i)
	}
	agents = map[string]simcc.Agent{}
	for _, a := range s.center.Agents() {
		agents[a.ID] = a
	}
	return queues, agents
}

type queueReq struct {
	Queues []struct {
		Number  string `json:"number"`
		SLASecs *int   `json:"sla_secs"`
	} `json:"queues"`
	Queue     string `json:"queue"`
	Agent     string `json:"agent"`
	StartTime string `json:"start_time"`
	EndTime   string `json:"end_time"`
	Interval  string `json:"interval"`
}

// summaryDoc is the queues/summary answer.
type summaryDoc struct {
	Queues              []queueSLA `json:"queues"`
	StartTime           *string    `json:"start_time"`
	EndTime             *string    `json:"end_time"`
	TotalCalls          float64    `json:"total_calls"`
	AnsweredCalls       float64    `json:"answered_calls"`
	AbandonedCalls      float64    `json:"abandoned_calls"`
	ShortAbandonedCalls float64    `json:"short_abandoned_calls"`
	AnsweredInSLACalls  float64    `json:"answered_in_sla_calls"`
	CallbackCalls       float64    `json:"callback_calls"`
	ServiceLevel        *float64   `json:"service_level"`
	AvgAnswerSecs       *float64   `json:"avg_answer_secs"`
	AvgWaitingSecs      *float64   `json:"avg_waiting_secs"`
	AvgHandleSecs       *float64   `json:"avg_handle_secs"`
	WaitingCalls        float64    `json:"waiting_calls"`
	LongestWaitingSecs  float64    `json:"longest_waiting_secs"`
}

type queueSLA struct {
	Number  string `json:"number"`
	SLASecs int    `json:"sla_secs"`
}

// stats is the center's figures with answered-within-SLA recounted for the asked threshold.
func (s *Server) stats(q simcc.Queue, sla int, from, to time.Time) simcc.QueueStats {
	st := s.center.QueueStats(q.ID, from, to)
	if sla == st.SLASeconds {
		return st
	}
	st.AnsweredWithinSLA, st.SLASeconds = 0, sla
	for _, c := range s.center.Calls(from.Add(-maxCallSpan), to) {
		for _, seg := range c.Segments {
			if seg.QueueID == q.ID && seg.Answered && !seg.EnteredAt.Before(from) && seg.EnteredAt.Before(to) &&
				int(seg.LeftAt.Sub(seg.EnteredAt)/time.Second) <= sla {
				st.AnsweredWithinSLA++
			}
		}
	}
	st.ServiceLevel = nil
	if den := st.Offered - st.ShortAbandoned; den > 0 {
		v := float64(st.AnsweredWithinSLA) / float64(den)
		st.ServiceLevel = &v
	}
	return st
}

// queueSummary averages the KPIs of the named queues (all queues when none is named), as
// the document says; with one queue that is the queue's own figures.
func (s *Server) queueSummary(w http.ResponseWriter, r *http.Request) {
	var req queueReq
	if err := decodeBody(r, &req); err != nil {
		writeBad(w, err)
		return
	}
	now := s.center.Now()
	from, to, err := timeRange(req.StartTime, req.EndTime, dayStart(now, s.loc), now)
	if err != nil {
		writeBad(w, err)
		return
	}
	var asked []queueSLA
	var qs []simcc.Queue
	for _, x := range req.Queues {
		q, ok := s.queueIndex(x.Number)
		if !ok {
			writeErr(w, http.StatusBadRequest, "INVALID_QUEUE", "unknown queue number "+x.Number)
			return
		}
		sla := q.SLASeconds
		if x.SLASecs != nil {
			if *x.SLASecs < 1 {
				writeErr(w, http.StatusBadRequest, "INVALID_PARAMETER", "sla_secs must be positive")
				return
			}
			sla = *x.SLASecs
		}
		asked, qs = append(asked, queueSLA{x.Number, sla}), append(qs, q)
	}
	if len(qs) == 0 {
		for i, q := range s.center.Queues() {
			asked, qs = append(asked, queueSLA{QueueNumber(i), q.SLASeconds}), append(qs, q)
		}
	}
	doc := summaryDoc{Queues: asked, StartTime: s.ts(from), EndTime: s.ts(to)}
	var sl, asa, wait, aht avg
	n := float64(len(qs))
	for i, q := range qs {
		st := s.stats(q, asked[i].SLASecs, from, to)
		doc.TotalCalls += float64(st.Offered) / n
		doc.AnsweredCalls += float64(st.Answered) / n
		doc.AbandonedCalls += float64(st.Abandoned) / n
		doc.ShortAbandonedCalls += float64(st.ShortAbandoned) / n
		doc.AnsweredInSLACalls += float64(st.AnsweredWithinSLA) / n
		doc.CallbackCalls += float64(st.Callbacks) / n
		doc.WaitingCalls += float64(st.CallsWaiting) / n
		doc.LongestWaitingSecs += float64(st.LongestWaitSeconds) / n
		if st.ServiceLevel != nil {
			sl.add(*st.ServiceLevel * 100)
		}
		asa.addp(st.AverageSpeedOfAnswerSeconds)
		wait.addp(st.AverageWaitSeconds)
		aht.addp(st.AverageHandleSeconds)
	}
	for _, p := range []*float64{&doc.TotalCalls, &doc.AnsweredCalls, &doc.AbandonedCalls, &doc.ShortAbandonedCalls,
		&doc.AnsweredInSLACalls, &doc.CallbackCalls, &doc.WaitingCalls, &doc.LongestWaitingSecs} {
		*p = math.Round(*p)
	}
	doc.ServiceLevel, doc.AvgAnswerSecs, doc.AvgWaitingSecs, doc.AvgHandleSecs = sl.value(), asa.value(), wait.value(), aht.value()
	writeJSON(w, http.StatusOK, doc)
}

type avg struct {
	sum float64
	n   int
}

func (a *avg) add(v float64) { a.sum += v; a.n++ }

func (a *avg) addp(v *float64) {
	if v != nil {
		a.add(*v)
	}
}

func (a *avg) value() *float64 {
	if a.n == 0 {
		return nil
	}
	v := a.sum / float64(a.n)
	return &v
}

func dayStart(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

// seriesRange validates a queue/agent timeseries body: at most 24 h, a documented interval.
func (s *Server) seriesRange(req queueReq) (time.Time, time.Time, time.Duration, error) {
	now := s.center.Now()
	from, to, err := timeRange(req.StartTime, req.EndTime, now.Add(-24*time.Hour), now)
	if err != nil {
		return from, to, 0, err
	}
	if to.Sub(from) > 24*time.Hour {
		return from, to, 0, bad("TIME_RANGE_TOO_LARGE", "the maximum supported time range is 24 hours")
	}
	iv := req.Interval
	if iv == "" {
		iv = "1h"
	}
	step, ok := intervals[iv]
	if !ok {
		return from, to, 0, bad("INVALID_INTERVAL", "interval must be one of 1h, 2h, 3h, 4h, 6h, 8h")
	}
	return from, to, step, nil
}

type bucket struct{ from, to time.Time }

func buckets(from, to time.Time, step time.Duration) []bucket {
	var out []bucket
	for t := from; t.Before(to); t = t.Add(step) {
		out = append(out, bucket{t, minTime(t.Add(step), to)})
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

type seriesItem struct {
	StartTime        *string  `json:"start_time"`
	EndTime          *string  `json:"end_time"`
	TotalCalls       int      `json:"total_calls"`
	AnsweredCalls    int      `json:"answered_calls"`
	NotAnsweredCalls *int     `json:"not_answered_calls,omitempty"`
	AbandonedCalls   *int     `json:"abandoned_calls,omitempty"`
	MissedCalls      *int     `json:"missed_calls,omitempty"`
	TalkSecs         *int     `json:"talk_secs,omitempty"`
	AvgAnswerSecs    *float64 `json:"avg_answer_secs,omitempty"`
	AvgHandleSecs    *float64 `json:"avg_handle_secs,omitempty"`
}

func (s *Server) queueTimeseries(w http.ResponseWriter, r *http.Request) {
	var req queueReq
	if err := decodeBody(r, &req); err != nil {
		writeBad(w, err)
		return
	}
	from, to, step, err := s.seriesRange(req)
	if err != nil {
		writeBad(w, err)
		return
	}
	var qs []simcc.Queue
	if req.Queue == "" {
		qs = s.center.Queues()
	} else if q, ok := s.queueIndex(req.Queue); ok {
		qs = []simcc.Queue{q}
	} else {
		writeErr(w, http.StatusBadRequest, "INVALID_QUEUE", "unknown queue number "+req.Queue)
		return
	}
	items := []seriesItem{}
	for _, b := range buckets(from, to, step) {
		it := seriesItem{StartTime: s.ts(b.from), EndTime: s.ts(b.to), AbandonedCalls: new(int)}
		for _, q := range qs {
			st := s.center.QueueStats(q.ID, b.from, b.to)
			it.TotalCalls += st.Offered
			it.AnsweredCalls += st.Answered
			*it.AbandonedCalls += st.Abandoned
			if len(qs) == 1 {
				it.AvgAnswerSecs, it.AvgHandleSecs = st.AverageSpeedOfAnswerSeconds, st.AverageHandleSeconds
			}
		}
		items = append(items, it)
	}
	writeJSON(w, http.StatusOK, map[string]any{"queue": req.Queue, "interval": intervalName(step), "items": items})
}

func intervalName(d time.Duration) string {
	if d == 24*time.Hour {
		return "1d"
	}
	return strings.TrimSuffix(d.String(), "0m0s")
}

// agentFigures adds up an agent's legs offered in [from, to) from the queue ("" = any).
type agentFigures struct {
	offered, answered, missed, talk, hold, wrap int
	handle                                      avg
}

func (s *Server) agentFigures(queueID, agentID string, from, to time.Time) agentFigures {
	var f agentFigures
	for _, c := range s.center.Calls(from.Add(-maxCallSpan), to) {
		for _, l := range c.Legs {
			if l.AgentID != agentID || (queueID != "" && l.QueueID != queueID) || l.OfferedAt.Before(from) || !l.OfferedAt.Before(to) {
				continue
			}
			f.offered++
			switch {
			case l.Answered:
				f.answered++
			case !l.EndedAt.IsZero():
				f.missed++
			}
			if !l.EndedAt.IsZero() {
				f.talk += l.TalkSeconds
				f.hold += l.HoldSeconds
				f.wrap += l.WrapUpSeconds
				if l.Answered {
					f.handle.add(float64(l.TalkSeconds + l.HoldSeconds + l.WrapUpSeconds))
				}
			}
		}
	}
	return f
}

func (s *Server) agentRequest(w http.ResponseWriter, r *http.Request) (queueReq, string, simcc.Agent, bool) {
	var req queueReq
	if err := decodeBody(r, &req); err != nil {
		writeBad(w, err)
		return req, "", simcc.Agent{}, false
	}
	a, ok := s.agentByNumber(req.Agent)
	if !ok {
		writeErr(w, http.StatusBadRequest, "INVALID_AGENT", "unknown agent number "+req.Agent)
		return req, "", a, false
	}
	queueID := ""
	if req.Queue != "" {
		q, ok := s.queueIndex(req.Queue)
		if !ok {
			writeErr(w, http.StatusBadRequest, "INVALID_QUEUE", "unknown queue number "+req.Queue)
			return req, "", a, false
		}
		queueID = q.ID
	}
	return req, queueID, a, true
}

func (s *Server) agentSummary(w http.ResponseWriter, r *http.Request) {
	req, queueID, a, ok := s.agentRequest(w, r)
	if !ok {
		return
	}
	from, to, _, err := s.seriesRange(req)
	if err != nil {
		writeBad(w, err)
		return
	}
	f := s.agentFigures(queueID, a.ID, from, to)
	writeJSON(w, http.StatusOK, map[string]any{
		"queue": req.Queue, "agent": req.Agent, "start_time": s.ts(from), "end_time": s.ts(to),
		"total_calls": f.offered, "answered_calls": f.answered, "missed_calls": f.missed,
		"talk_secs": f.talk, "hold_secs": f.hold, "wrap_up_secs": f.wrap, "avg_handle_secs": f.handle.value(),
	})
}

func (s *Server) agentTimeseries(w http.ResponseWriter, r *http.Request) {
	req, queueID, a, ok := s.agentRequest(w, r)
	if !ok {
		return
	}
	from, to, step, err := s.seriesRange(req)
	if err != nil {
		writeBad(w, err)
		return
	}
	items := []seriesItem{}
	for _, b := range buckets(from, to, step) {
		f := s.agentFigures(queueID, a.ID, b.from, b.to)
		items = append(items, seriesItem{StartTime: s.ts(b.from), EndTime: s.ts(b.to),
			TotalCalls: f.offered, AnsweredCalls: f.answered, MissedCalls: &f.missed, TalkSecs: &f.talk, AvgHandleSecs: f.handle.value()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"queue": req.Queue, "agent": req.Agent, "interval": intervalName(step), "items": items})
}

// callsTimeseries counts calls by start: hourly for a one-day range, daily beyond, in the
// zone of start_time; 1 to 365 days. tenants is accepted and ignored (one tenant).
func (s *Server) callsTimeseries(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Tenants   []any  `json:"tenants"`
		StartTime string `json:"start_time"`
		EndTime   string `json:"end_time"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeBad(w, err)
		return
	}
	from, to, err := timeRange(req.StartTime, req.EndTime, time.Time{}, time.Time{})
	if err != nil {
		writeBad(w, err)
		return
	}
	span := to.Sub(from)
	if span < 24*time.Hour || span > 365*24*time.Hour {
		writeErr(w, http.StatusBadRequest, "INVALID_TIME_RANGE", "the time range must be between 1 and 365 days")
		return
	}
	step := 24 * time.Hour
	if span == 24*time.Hour {
		step = time.Hour
	}
	calls := s.center.Calls(from, to)
	items := []seriesItem{}
	i := 0
	for _, b := range buckets(from, to, step) {
		it := seriesItem{StartTime: s.ts(b.from), EndTime: s.ts(b.to), NotAnsweredCalls: new(int)}
		for ; i < len(calls) && calls[i].StartedAt.Before(b.to); i++ {
			it.TotalCalls++
			switch {
			case calls[i].Outcome == simcc.OutcomeAnswered:
				it.AnsweredCalls++
			case calls[i].Outcome != simcc.OutcomeInProgress:
				*it.NotAnsweredCalls++
			}
		}
		items = append(items, it)
	}
	writeJSON(w, http.StatusOK, map[string]any{"interval": intervalName(step), "items": items})
}

// callDoc is one analytics/calls/history record.
type callDoc struct {
	SessionID  string   `json:"session_id"`
	CallID     string   `json:"call_id"`
	Direction  string   `json:"direction"`
	From       *string  `json:"from"`
	To         *string  `json:"to"`
	Status     string   `json:"status"`
	EndReason  *string  `json:"end_reason"`
	StartTime  *string  `json:"start_time"`
	AnswerTime *string  `json:"answer_time"`
	EndTime    *string  `json:"end_time"`
	Duration   *int     `json:"duration"`
	TalkSecs   *int     `json:"talk_secs"`
	HoldSecs   *int     `json:"hold_secs"`
	WrapUpSecs *int     `json:"wrap_up_secs"`
	Queues     []string `json:"queues"`
	Agents     []string `json:"agents"`
	Transfers  int      `json:"transfers"`
	Recorded   bool     `json:"recorded"`
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func callStatus(c simcc.Call) string {
	switch {
	case c.EndedAt.IsZero():
		return "NONE"
	case c.Outcome == simcc.OutcomeAnswered:
		return "ANSWERED"
	default:
		return "NOT_ANSWERED"
	}
}

func (s *Server) renderCall(c simcc.Call, queues map[string]string, agents map[string]simcc.Agent) callDoc {
	d := callDoc{SessionID: SessionID(c.Seq), CallID: c.UUID, Direction: string(c.Direction), Status: callStatus(c),
		EndReason: strp(c.EndReason), StartTime: s.ts(c.StartedAt), AnswerTime: s.ts(c.AnsweredAt), EndTime: s.ts(c.EndedAt),
		Queues: []string{}, Agents: []string{}, Transfers: c.Transfers, Recorded: c.Recorded}
	switch c.Direction {
	case simcc.DirectionInbound:
		d.From, d.To = strp(c.Customer), strp(c.ServiceNumber)
	case simcc.DirectionOutbound:
		d.From, d.To = strp(c.ServiceNumber), strp(c.Customer)
	default:
		d.To = strp(c.ServiceNumber)
	}
	if !c.EndedAt.IsZero() {
		talk := 0
		for _, l := range c.Legs {
			talk += l.TalkSeconds
		}
		d.Duration = intp(int(c.EndedAt.Sub(c.StartedAt) / time.Second))
		d.TalkSecs, d.HoldSecs, d.WrapUpSecs = intp(talk), intp(c.HoldSeconds), intp(c.WrapUpSeconds)
	}
	for _, seg := range c.Segments {
		if n := queues[seg.QueueID]; !slices.Contains(d.Queues, n) {
			d.Queues = append(d.Queues, n)
		}
	}
	for _, l := range c.Legs {
		if n := agents[l.AgentID].Extension; !slices.Contains(d.Agents, n) {
			d.Agents = append(d.Agents, n)
		}
	}
	return d
}

func intp(v int) *int { return &v }

type historyReq struct {
	From           string `json:"from"`
	To             string `json:"to"`
	StartDuration  *int   `json:"start_duration"`
	EndDuration    *int   `json:"end_duration"`
	StartHourOfDay *int   `json:"start_hour_of_day"`
	EndHourOfDay   *int   `json:"end_hour_of_day"`
	Status         string `json:"status"`
	StartTime      string `json:"start_time"`
	EndTime        string `json:"end_time"`
	SessionID      string `json:"session_id"`
	User           string `json:"user"`
	Direction      string `json:"direction"`
	Destination    string `json:"destination"`
}

// historyCalls applies a history body: start/end (required, at most 365 days) and filters.
func (s *Server) historyCalls(req historyReq, required bool) ([]simcc.Call, error) {
	var defFrom, defTo time.Time
	if !required {
		defTo = s.center.Now().Add(time.Second)
		defFrom = defTo.Add(-24 * time.Hour)
	}
	from, to, err := timeRange(req.StartTime, req.EndTime, defFrom, defTo)
	if err != nil {
		return nil, err
	}
	if to.Sub(from) > 365*24*time.Hour {
		return nil, bad("TIME_RANGE_TOO_LARGE", "the maximum supported time range is 365 days")
	}
	switch req.Status {
	case "", "NONE", "ANSWERED", "NOT_ANSWERED":
	default:
		return nil, bad("INVALID_PARAMETER", "status must be NONE, ANSWERED or NOT_ANSWERED")
	}
	var out []simcc.Call
	for _, c := range s.center.Calls(from, to) {
		d := s.renderCall(c, nil, nil)
		hour := c.StartedAt.In(from.Location()).Hour()
		switch {
		case req.SessionID != "" && d.SessionID != req.SessionID,
			req.From != "" && (d.From == nil || !strings.Contains(*d.From, req.From)),
			req.To != "" && (d.To == nil || !strings.Contains(*d.To, req.To)),
			req.Status != "" && d.Status != req.Status,
			req.StartHourOfDay != nil && hour < *req.StartHourOfDay,
			req.EndHourOfDay != nil && hour >= *req.EndHourOfDay,
			(req.StartDuration != nil || req.EndDuration != nil) && d.Duration == nil,
			req.StartDuration != nil && *d.Duration < *req.StartDuration,
			req.EndDuration != nil && *d.Duration > *req.EndDuration:
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *Server) callHistory(w http.ResponseWriter, r *http.Request) {
	var req historyReq
	if err := decodeBody(r, &req); err != nil {
		writeBad(w, err)
		return
	}
	if _, _, _, err := paging(r.URL.Query()); err != nil {
		writeBad(w, err)
		return
	}
	calls, err := s.historyCalls(req, true)
	if err != nil {
		writeBad(w, err)
		return
	}
	queues, agents := s.numbers()
	docs := make([]callDoc, len(calls))
	for i, c := range calls {
		docs[i] = s.renderCall(c, queues, agents)
	}
	writeList(w, r, docs)
}

func (s *Server) callBySession(w http.ResponseWriter, r *http.Request) {
	c, ok := s.callFor(r.PathValue("session_id"))
	if !ok {
		writeErr(w, http.StatusNotFound, "NOT_FOUND", "no call with this session_id")
		return
	}
	queues, agents := s.numbers()
	writeJSON(w, http.StatusOK, s.renderCall(c, queues, agents))
}

func (s *Server) callFor(session string) (simcc.Call, bool) {
	id, ok := CallID(session)
	if !ok {
		return simcc.Call{}, false
	}
	return s.center.Call(id)
}

// userDoc is one analytics/calls/user/history record: one user's part of a call.
type userDoc struct {
	SessionID      string  `json:"session_id"`
	User           string  `json:"user"`
	UserName       string  `json:"user_name"`
	Queue          *string `json:"queue"`
	Direction      string  `json:"direction"`
	Destination    string  `json:"destination"`
	Status         string  `json:"status"`
	StartTime      *string `json:"start_time"`
	AnswerTime     *string `json:"answer_time"`
	EndTime        *string `json:"end_time"`
	RingSecs       *int    `json:"ring_secs"`
	TalkSecs       *int    `json:"talk_secs"`
	HoldSecs       *int    `json:"hold_secs"`
	WrapUpSecs     *int    `json:"wrap_up_secs"`
	TransferredIn  bool    `json:"transferred_in"`
	TransferredOut bool    `json:"transferred_out"`
	TransferType   *string `json:"transfer_type"`
	EndReason      *string `json:"end_reason"`
}

func (s *Server) renderLegs(c simcc.Call, queues map[string]string, agents map[string]simcc.Agent) []userDoc {
	out := []userDoc{}
	for _, l := range c.Legs {
		a := agents[l.AgentID]
		d := userDoc{SessionID: SessionID(c.Seq), User: a.Extension, UserName: a.Name, Queue: strp(queues[l.QueueID]),
			Direction: string(c.Direction), Destination: "sip:" + a.Extension + "@" + domain(a.Email), Status: "NONE",
			StartTime: s.ts(l.OfferedAt), AnswerTime: s.ts(l.AnsweredAt), EndTime: s.ts(l.EndedAt),
			TransferredIn: l.TransferredIn, TransferredOut: l.TransferredOut, TransferType: strp(l.TransferType), EndReason: strp(l.EndReason)}
		switch {
		case l.Answered:
			d.Status = "ANSWERED"
		case !l.EndedAt.IsZero():
			d.Status = "NOT_ANSWERED"
		}
		if l.Answered || !l.EndedAt.IsZero() {
			d.RingSecs = intp(l.RingSeconds)
		}
		if !l.EndedAt.IsZero() {
			d.TalkSecs, d.HoldSecs, d.WrapUpSecs = intp(l.TalkSeconds), intp(l.HoldSeconds), intp(l.WrapUpSeconds)
		}
		out = append(out, d)
	}
	return out
}

func domain(email string) string {
	if _, d, ok := strings.Cut(email, "@"); ok {
		return d
	}
	return "pbx.local"
}

func (s *Server) userHistory(w http.ResponseWriter, r *http.Request) {
	var req historyReq
	if err := decodeBody(r, &req); err != nil {
		writeBad(w, err)
		return
	}
	if _, _, _, err := paging(r.URL.Query()); err != nil {
		writeBad(w, err)
		return
	}
	status := req.Status
	req.Status = "" // the status filter applies to the user's part below
	calls, err := s.historyCalls(req, false)
	if err != nil {
		writeBad(w, err)
		return
	}
	queues, agents := s.numbers()
	var docs []userDoc
	for _, c := range calls {
		for _, d := range s.renderLegs(c, queues, agents) {
			if (req.User == "" || d.User == req.User) && (status == "" || d.Status == status) &&
				(req.Direction == "" || strings.EqualFold(d.Direction, req.Direction)) &&
				(req.Destination == "" || d.Destination == req.Destination) {
				docs = append(docs, d)
			}
		}
	}
	writeList(w, r, docs)
}

func (s *Server) userHistoryBySession(w http.ResponseWriter, r *http.Request) {
	if _, _, _, err := paging(r.URL.Query()); err != nil {
		writeBad(w, err)
		return
	}
	c, ok := s.callFor(r.PathValue("session_id"))
	if !ok {
		writeErr(w, http.StatusNotFound, "NOT_FOUND", "no call with this session_id")
		return
	}
	queues, agents := s.numbers()
	writeList(w, r, s.renderLegs(c, queues, agents))
}
