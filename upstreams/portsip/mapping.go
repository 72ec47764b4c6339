package portsip

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
	"github.com/switchboard-cc/switchboard/upstreams/derive"
)

// Pure mapping from Data Flow documents to graph/model: no I/O, no clock.

// wireTime is how the driver writes times: RFC 3339 with a numeric offset ("+00:00"),
// exactly like the document's examples, because the API insists on an explicit zone.
const wireTime = "2006-01-02T15:04:05-07:00"

func formatTime(t time.Time) string { return t.UTC().Format(wireTime) }

// parseTime accepts RFC 3339 with an offset ("Z" or ±hh:mm) and returns UTC.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time with offset", s)
	}
	return t.UTC(), nil
}

func parseOptTime(s *string) (*time.Time, error) {
	if s == nil || strings.TrimSpace(*s) == "" {
		return nil, nil
	}
	t, err := parseTime(*s)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// decodeDoc unmarshals raw into dst (a pointer to a struct) and, when that fails, names the
// top-level field at fault so the error can point at it.
func decodeDoc(raw []byte, dst any) (string, error) {
	err := json.Unmarshal(raw, dst)
	if err == nil {
		return "", nil
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) && ute.Field != "" {
		return ute.Field, err
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return "", err
	}
	t := reflect.TypeOf(dst).Elem()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		v, ok := fields[name]
		if !ok || name == "" || name == "-" {
			continue
		}
		if ferr := json.Unmarshal(v, reflect.New(t.Field(i).Type).Interface()); ferr != nil {
			return name, ferr
		}
	}
	return "", err
}

// mapper holds what mapping needs from the source's configuration.
type mapper struct {
	spec       upstreams.SourceSpec
	queueNames map[string]string // queue number -> display name
}

func (m mapper) fieldErr(op, prefix, field string, err error) error {
	if prefix != "" && field != "" {
		field = prefix + "." + field
	} else if prefix != "" {
		field = prefix
	}
	return m.spec.FieldError(op, field, err)
}

func (m mapper) queueRef(number string) *model.Ref {
	return model.NewRef(model.KindQueue, m.spec.ID, number, m.queueNames[number])
}

// mapQueue maps a queues/summary answer for one queue. The range is the one asked for.
func (m mapper) mapQueue(op, number string, slaSecs int, r upstreams.TimeRange, raw json.RawMessage) (*model.Queue, error) {
	var s queueSummary
	if f, err := decodeDoc(raw, &s); err != nil {
		return nil, m.fieldErr(op, "", f, err)
	}
	offered, within, short := intPtr(s.TotalCalls), intPtr(s.AnsweredInSLACalls), intPtr(s.ShortAbandonedCalls)
	st := &model.QueueStats{
		From: model.Ptr(r.From.UTC()), To: model.Ptr(r.To.UTC()),
		CallsWaiting: intPtr(s.WaitingCalls), LongestWaitSeconds: intPtr(s.LongestWaitingSecs),
		Offered: offered, Answered: intPtr(s.AnsweredCalls), Abandoned: intPtr(s.AbandonedCalls),
		ShortAbandoned: short, AnsweredWithinSLA: within, SLASeconds: model.Ptr(slaSecs),
		AverageSpeedOfAnswerSeconds: floatPtr(s.AvgAnswerSecs),
		AverageWaitSeconds:          floatPtr(s.AvgWaitingSecs),
		AverageHandleSeconds:        floatPtr(s.AvgHandleSecs),
		Callbacks:                   intPtr(s.CallbackCalls),
	}
	switch {
	case offered != nil && within != nil && short != nil:
		// The counts are exact where the percentage is rounded by some PBX versions.
		st.ServiceLevel = derive.ServiceLevel(*within, *offered, *short)
	case s.ServiceLevel != nil:
		st.ServiceLevel = model.Ptr(min(max(float64(*s.ServiceLevel)/100, 0), 1))
	}
	name := m.queueNames[number]
	if name == "" {
		name = number
	}
	return &model.Queue{
		ID: model.GlobalID(model.KindQueue, m.spec.ID, number), VendorID: number,
		SourceID: m.spec.ID, Vendor: m.spec.Vendor, Name: name, Number: model.Ptr(number),
		Channel: model.Ptr(model.ChannelVoice), SLASeconds: model.Ptr(slaSecs), Stats: st, Raw: raw,
	}, nil
}

// mapSeries maps timeseries buckets (queue, agent or calls timeseries).
func (m mapper) mapSeries(op string, items []json.RawMessage) ([]*model.TimeseriesPoint, error) {
	out := make([]*model.TimeseriesPoint, 0, len(items))
	for i, raw := range items {
		prefix := "items[" + strconv.Itoa(i) + "]"
		var it seriesItem
		if f, err := decodeDoc(raw, &it); err != nil {
			return nil, m.fieldErr(op, prefix, f, err)
		}
		from, err := parseTime(it.StartTime)
		if err != nil {
			return nil, m.fieldErr(op, prefix, "start_time", err)
		}
		to, err := parseTime(it.EndTime)
		if err != nil {
			return nil, m.fieldErr(op, prefix, "end_time", err)
		}
		if !to.After(from) {
			return nil, m.fieldErr(op, prefix, "end_time", fmt.Errorf("end_time %s is not after start_time", it.EndTime))
		}
		out = append(out, &model.TimeseriesPoint{
			From: from, To: to,
			Offered: intPtr(it.TotalCalls), Answered: intPtr(it.AnsweredCalls), Abandoned: intPtr(it.AbandonedCalls),
			TalkSeconds:                 intPtr(it.TalkSecs),
			AverageSpeedOfAnswerSeconds: floatPtr(it.AvgAnswerSecs),
			AverageHandleSeconds:        floatPtr(it.AvgHandleSecs),
		})
	}
	return out, nil
}

// mapAgentSummary maps queues/agent/summary to the agent's counters in that queue.
func (m mapper) mapAgentSummary(op string, raw json.RawMessage) (*model.AgentCounters, error) {
	var s agentSummary
	if f, err := decodeDoc(raw, &s); err != nil {
		return nil, m.fieldErr(op, "", f, err)
	}
	return &model.AgentCounters{
		Offered: intPtr(s.TotalCalls), Answered: intPtr(s.AnsweredCalls), Missed: intPtr(s.MissedCalls),
		TalkSeconds: intPtr(s.TalkSecs), HoldSeconds: intPtr(s.HoldSecs), WrapUpSeconds: intPtr(s.WrapUpSecs),
		AverageHandleSeconds: floatPtr(s.AvgHandleSecs),
	}, nil
}

// Call status values of the history endpoints.
const (
	statusAnswered    = "ANSWERED"
	statusNotAnswered = "NOT_ANSWERED"
)

func mapDirection(s *string) model.Direction {
	if s == nil {
		return model.DirectionUnknown
	}
	switch strings.ToUpper(strings.TrimSpace(*s)) {
	case "INBOUND", "INCOMING":
		return model.DirectionInbound
	case "OUTBOUND", "OUTGOING":
		return model.DirectionOutbound
	case "INTERNAL", "LOCAL":
		return model.DirectionInternal
	}
	return model.DirectionUnknown
}

// mapOutcome: PortSIP has three statuses; the end reason and whether any agent was offered
// the call refine NOT_ANSWERED into the canonical outcomes.
func mapOutcome(status, reason *string, ended bool, dir model.Direction, agentsOffered int) model.Outcome {
	if !ended {
		return model.OutcomeInProgress
	}
	if status != nil && strings.EqualFold(*status, statusAnswered) {
		return model.OutcomeAnswered
	}
	r := ""
	if reason != nil {
		r = strings.ToLower(*reason)
	}
	switch r {
	case "voicemail":
		return model.OutcomeVoicemail
	case "callback_requested", "callback":
		return model.OutcomeCallback
	case "failed":
		return model.OutcomeFailed
	}
	if dir == model.DirectionInbound && agentsOffered == 0 {
		return model.OutcomeAbandoned
	}
	return model.OutcomeMissed
}

// mapCall maps one analytics/calls/history record.
func (m mapper) mapCall(op, prefix string, raw json.RawMessage) (*model.Call, error) {
	var c callRecord
	if f, err := decodeDoc(raw, &c); err != nil {
		return nil, m.fieldErr(op, prefix, f, err)
	}
	id := strings.TrimSpace(string(c.SessionID))
	if id == "" {
		return nil, m.fieldErr(op, prefix, "session_id", errors.New("missing session_id"))
	}
	if c.StartTime == nil {
		return nil, m.fieldErr(op, prefix, "start_time", errors.New("missing start_time"))
	}
	started, err := parseTime(*c.StartTime)
	if err != nil {
		return nil, m.fieldErr(op, prefix, "start_time", err)
	}
	answered, err := parseOptTime(c.AnswerTime)
	if err != nil {
		return nil, m.fieldErr(op, prefix, "answer_time", err)
	}
	ended, err := parseOptTime(c.EndTime)
	if err != nil {
		return nil, m.fieldErr(op, prefix, "end_time", err)
	}
	dir := mapDirection(c.Direction)
	call := &model.Call{
		ID: model.GlobalID(model.KindCall, m.spec.ID, id), VendorID: id,
		SourceID: m.spec.ID, Vendor: m.spec.Vendor,
		Direction: dir, Channel: model.ChannelVoice,
		Outcome:      mapOutcome(c.Status, c.EndReason, ended != nil, dir, len(c.Agents)),
		VendorStatus: c.Status, VendorReason: c.EndReason, EndReason: c.EndReason,
		StartedAt: started, AnsweredAt: answered, EndedAt: ended,
		Durations: &model.CallDurations{
			TotalSeconds: intPtr(c.Duration), TalkSeconds: intPtr(c.TalkSecs),
			HoldSeconds: intPtr(c.HoldSecs), WrapUpSeconds: intPtr(c.WrapUpSecs),
		},
		Agents: []*model.Ref{}, Queues: []*model.Ref{}, Ivrs: []*model.Ref{},
		Transfers: intPtr(c.Transfers), Recorded: c.Recorded, Raw: raw,
	}
	customer, service := c.From, c.To
	switch dir {
	case model.DirectionOutbound:
		customer, service = c.To, c.From
	case model.DirectionInternal, model.DirectionUnknown:
		customer = nil
	}
	if customer != nil && *customer != "" {
		call.Customer = &model.Customer{Number: customer}
	}
	if service != nil && *service != "" {
		call.ServiceNumber = service
	}
	for _, a := range c.Agents {
		call.Agents = append(call.Agents, model.NewRef(model.KindAgent, m.spec.ID, a, ""))
	}
	for _, q := range c.Queues {
		call.Queues = append(call.Queues, m.queueRef(q))
	}
	return call, nil
}

// mapLeg maps one analytics/calls/user/history record; legs are numbered 1.. per call.
func (m mapper) mapLeg(op, prefix string, n int, raw json.RawMessage) (string, *model.CallLeg, error) {
	var u userCallRecord
	if f, err := decodeDoc(raw, &u); err != nil {
		return "", nil, m.fieldErr(op, prefix, f, err)
	}
	offered, err := parseOptTime(u.StartTime)
	if err != nil {
		return "", nil, m.fieldErr(op, prefix, "start_time", err)
	}
	answeredAt, err := parseOptTime(u.AnswerTime)
	if err != nil {
		return "", nil, m.fieldErr(op, prefix, "answer_time", err)
	}
	ended, err := parseOptTime(u.EndTime)
	if err != nil {
		return "", nil, m.fieldErr(op, prefix, "end_time", err)
	}
	leg := &model.CallLeg{
		ID: strconv.Itoa(n), OfferedAt: offered, AnsweredAt: answeredAt, EndedAt: ended,
		RingSeconds: intPtr(u.RingSecs), TalkSeconds: intPtr(u.TalkSecs),
		HoldSeconds: intPtr(u.HoldSecs), WrapUpSeconds: intPtr(u.WrapUpSecs),
		TransferredIn: u.TransferredIn, TransferredOut: u.TransferredOut,
		TransferType: nonEmpty(u.TransferType), EndReason: nonEmpty(u.EndReason), Raw: raw,
	}
	if u.User != nil && *u.User != "" {
		name := ""
		if u.UserName != nil {
			name = *u.UserName
		}
		leg.Agent = model.NewRef(model.KindAgent, m.spec.ID, *u.User, name)
	}
	if u.Queue != nil && *u.Queue != "" {
		leg.Queue = m.queueRef(*u.Queue)
	}
	if u.Status != nil {
		switch strings.ToUpper(*u.Status) {
		case statusAnswered:
			leg.Answered = model.Ptr(true)
		case statusNotAnswered:
			leg.Answered = model.Ptr(false)
		}
	}
	return string(u.SessionID), leg, nil
}

func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

// formatCSV is the one PortSIP report format the schema has (the other is HTML).
const formatCSV = "CSV"

// mapReportJob maps one report job document.
func (m mapper) mapReportJob(op, prefix string, raw json.RawMessage) (*model.ReportJob, error) {
	var j reportJob
	if f, err := decodeDoc(raw, &j); err != nil {
		return nil, m.fieldErr(op, prefix, f, err)
	}
	id := strings.TrimSpace(string(j.ID))
	if id == "" {
		return nil, m.fieldErr(op, prefix, "id", errors.New("missing id"))
	}
	created, err := parseOptTime(j.CreatedAt)
	if err != nil {
		return nil, m.fieldErr(op, prefix, "created_at", err)
	}
	updated, err := parseOptTime(j.UpdatedAt)
	if err != nil {
		return nil, m.fieldErr(op, prefix, "updated_at", err)
	}
	job := &model.ReportJob{
		ID: model.GlobalID(model.KindReportJob, m.spec.ID, id), VendorID: id,
		SourceID: m.spec.ID, Vendor: m.spec.Vendor,
		Name: deref(j.ScheduleName), ReportType: deref(j.Type), Cron: deref(j.CronExpr),
		// The schema has no HTML format: HTML jobs (made in PortSIP's UI) read as CSV; raw keeps the truth.
		Format:     model.ReportFormatCSV,
		Timezone:   nonEmpty(j.Timezone),
		Recipients: splitRecipients(deref(j.Recipients)),
		Queues:     []string{},
		Enabled:    j.Active != nil && *j.Active,
		CreatedAt:  created, UpdatedAt: updated, Raw: raw,
	}
	if job.Timezone == nil {
		job.Timezone = nonEmpty(j.TimeZone)
	}
	if j.Params != nil && j.Params.Queues != nil {
		job.Queues = j.Params.Queues
	}
	return job, nil
}

func splitRecipients(s string) []string {
	out := []string{}
	for _, r := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (m mapper) mapReportLog(op, prefix string, raw json.RawMessage) (*model.ReportLog, error) {
	var l reportLog
	if f, err := decodeDoc(raw, &l); err != nil {
		return nil, m.fieldErr(op, prefix, f, err)
	}
	id := strings.TrimSpace(string(l.ID))
	if id == "" {
		return nil, m.fieldErr(op, prefix, "id", errors.New("missing id"))
	}
	created, err := parseOptTime(l.CreatedAt)
	if err != nil {
		return nil, m.fieldErr(op, prefix, "created_at", err)
	}
	out := &model.ReportLog{ID: model.GlobalID(model.KindReportLog, m.spec.ID, id), VendorID: id, SourceID: m.spec.ID, Vendor: m.spec.Vendor,
		Name: deref(l.ScheduleName), Status: nonEmpty(l.Status), Format: nonEmpty(l.Format),
		FileName: nonEmpty(l.FileName), CreatedAt: created, Raw: raw}
	if job := deref(l.JobID); job != "" {
		out.ReportJobID = model.Ptr(model.GlobalID(model.KindReportJob, m.spec.ID, job))
	}
	return out, nil
}

// cronFields are the ranges of the five cron fields PortSIP's gocron accepts.
var cronFields = [5]struct {
	name     string
	min, max int
}{{"minute", 0, 59}, {"hour", 0, 23}, {"day of month", 1, 31}, {"month", 1, 12}, {"day of week", 0, 7}}

// validateCron checks a 5-field cron expression: *, n, a-b, */s, a-b/s and comma lists.
func validateCron(expr string) error {
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return fmt.Errorf("want 5 fields (minute hour day-of-month month day-of-week), got %d", len(fields))
	}
	for i, f := range fields {
		spec := cronFields[i]
		for _, part := range strings.Split(f, ",") {
			rng, step, hasStep := strings.Cut(part, "/")
			if hasStep {
				if s, err := strconv.Atoi(step); err != nil || s < 1 || s > spec.max {
					return fmt.Errorf("%s: bad step %q", spec.name, step)
				}
			}
			if rng == "*" {
				continue
			}
			lo, hi, isRange := strings.Cut(rng, "-")
			a, err := strconv.Atoi(lo)
			if err != nil || a < spec.min || a > spec.max {
				return fmt.Errorf("%s: %q is not in %d-%d", spec.name, lo, spec.min, spec.max)
			}
			if isRange {
				b, err := strconv.Atoi(hi)
				if err != nil || b < a || b > spec.max {
					return fmt.Errorf("%s: bad range %q", spec.name, rng)
				}
			}
		}
	}
	return nil
}

// maxRecipients is the schema's limit of e-mail recipients per job.
const maxRecipients = 20

// reportJobRequest validates a canonical job and builds the vendor body; the error names
// the input field. create picks the zone field name the document gives each operation.
func reportJobRequest(in model.ReportJobInput, create bool) (reportJobBody, string, error) {
	name := strings.TrimSpace(in.Name)
	if n := len([]rune(name)); n < 1 || n > 100 {
		return reportJobBody{}, "name", errors.New("must be 1 to 100 characters")
	}
	if strings.TrimSpace(in.ReportType) == "" {
		return reportJobBody{}, "reportType", errors.New("must not be empty")
	}
	if in.Format != model.ReportFormatCSV {
		return reportJobBody{}, "format", fmt.Errorf("%s is not supported by PortSIP (CSV only; HTML has no canonical format)", in.Format)
	}
	if err := validateCron(in.Cron); err != nil {
		return reportJobBody{}, "cron", err
	}
	if len(in.Recipients) < 1 || len(in.Recipients) > maxRecipients {
		return reportJobBody{}, "recipients", fmt.Errorf("want 1 to %d addresses, got %d", maxRecipients, len(in.Recipients))
	}
	for i, r := range in.Recipients {
		if !validEmail(r) {
			return reportJobBody{}, "recipients[" + strconv.Itoa(i) + "]", errors.New("not a valid e-mail address")
		}
	}
	tz := ""
	if in.Timezone != nil && *in.Timezone != "" {
		if _, err := time.LoadLocation(*in.Timezone); err != nil || strings.EqualFold(*in.Timezone, "local") {
			return reportJobBody{}, "timezone", fmt.Errorf("%q is not an IANA time zone", *in.Timezone)
		}
		tz = *in.Timezone
	}
	b := reportJobBody{
		Type: strings.TrimSpace(in.ReportType), Format: formatCSV, ScheduleName: name,
		CronExpr: strings.Join(strings.Fields(in.Cron), " "), Active: in.Enabled == nil || *in.Enabled,
		Recipients: strings.Join(in.Recipients, ";"),
	}
	if create {
		b.Timezone = tz
	} else {
		b.TimeZone = tz
	}
	if len(in.Queues) > 0 {
		b.Params = &reportParams{Queues: in.Queues}
	}
	return b, "", nil
}

// validEmail accepts a bare address (no display name, no separators PortSIP splits on).
func validEmail(s string) bool {
	if s == "" || strings.ContainsAny(s, ";, <>\"") {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}

// aggregate folds vendor points into buckets by the bucket that holds each point's start.
// Counters add up; the averages are weighted by answered calls (a bucket of one point keeps
// the vendor's figures exactly). A bucket no vendor point falls in keeps nil figures: the
// source did not say.
func aggregate(points []*model.TimeseriesPoint, buckets []upstreams.TimeRange) []*model.TimeseriesPoint {
	type acc struct {
		n         int
		only      *model.TimeseriesPoint
		asa, asaN float64
		aht, ahtN float64
	}
	out := make([]*model.TimeseriesPoint, len(buckets))
	accs := make([]acc, len(buckets))
	for i, b := range buckets {
		out[i] = &model.TimeseriesPoint{From: b.From, To: b.To}
	}
	for _, p := range points {
		j := sort.Search(len(buckets), func(i int) bool { return p.From.Before(buckets[i].To) })
		if j >= len(buckets) || p.From.Before(buckets[j].From) {
			continue
		}
		o, a := out[j], &accs[j]
		a.n++
		a.only = p
		o.Offered = addInt(o.Offered, p.Offered)
		o.Answered = addInt(o.Answered, p.Answered)
		o.Abandoned = addInt(o.Abandoned, p.Abandoned)
		o.Inbound = addInt(o.Inbound, p.Inbound)
		o.Outbound = addInt(o.Outbound, p.Outbound)
		o.AnsweredWithinSLA = addInt(o.AnsweredWithinSLA, p.AnsweredWithinSLA)
		o.TalkSeconds = addInt(o.TalkSeconds, p.TalkSeconds)
		if p.Answered != nil && *p.Answered > 0 {
			n := float64(*p.Answered)
			if p.AverageSpeedOfAnswerSeconds != nil {
				a.asa += n * *p.AverageSpeedOfAnswerSeconds
				a.asaN += n
			}
			if p.AverageHandleSeconds != nil {
				a.aht += n * *p.AverageHandleSeconds
				a.ahtN += n
			}
		}
	}
	for i, o := range out {
		a := accs[i]
		switch {
		case a.n == 1:
			o.AverageSpeedOfAnswerSeconds = a.only.AverageSpeedOfAnswerSeconds
			o.AverageHandleSeconds = a.only.AverageHandleSeconds
			o.ServiceLevel = a.only.ServiceLevel
		default:
			if a.asaN > 0 {
				o.AverageSpeedOfAnswerSeconds = model.Ptr(a.asa / a.asaN)
			}
			if a.ahtN > 0 {
				o.AverageHandleSeconds = model.Ptr(a.aht / a.ahtN)
			}
		}
	}
	return out
}

func addInt(a, b *int) *int {
	switch {
	case b == nil:
		return a
	case a == nil:
		return model.Ptr(*b)
	default:
		return model.Ptr(*a + *b)
	}
}
