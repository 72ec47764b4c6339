package ccai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// mapped is one canonical call with what the driver needs beside it.
type mapped struct {
	call    *model.Call
	updated time.Time // updated_at; zero when absent
	queues  []queueInfo
}

// queueInfo is a queue (menu leaf) seen in a call, with the service-level settings of its
// latest queue_durations row.
type queueInfo struct {
	vendorID, name string
	slaSeconds     int // service_level_target_time; 0 = not sent
	shortAbandon   int // service_level_abandon_time_threshold; 0 = not sent
	raw            json.RawMessage
}

// mapCallsBody maps a response body: a JSON array of call objects.
func mapCallsBody(spec upstreams.SourceSpec, op string, body []byte) ([]*mapped, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		return nil, spec.FieldError(op, "(body)", errors.New("expected a JSON array of calls"))
	}
	var docs []json.RawMessage
	if err := json.Unmarshal(body, &docs); err != nil {
		return nil, spec.FieldError(op, "(body)", err)
	}
	out := make([]*mapped, 0, len(docs))
	for i, d := range docs {
		m, err := mapCall(spec, op, d)
		if err != nil {
			var ue *upstreams.Error
			if errors.As(err, &ue) {
				ue.Field = fmt.Sprintf("[%d].%s", i, ue.Field)
			}
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// decodeErr turns a decoding error into a field error, prefixing the field path.
func decodeErr(spec upstreams.SourceSpec, op, prefix string, err error) error {
	field := prefix
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field = strings.TrimPrefix(prefix+"."+te.Field, ".")
		err = fmt.Errorf("cannot use %s as %s", te.Value, typeName(te.Type.String()))
	}
	if field == "" {
		field = "(call)"
	}
	return spec.FieldError(op, field, err)
}

func typeName(t string) string {
	switch strings.TrimPrefix(t, "ccai.") {
	case "flexID":
		return "an id (number or string)"
	case "flexString":
		return "text"
	case "flexInt":
		return "a whole number"
	case "flexBool":
		return "a boolean"
	case "stamp":
		return "an RFC 3339 time"
	}
	if strings.HasPrefix(t, "[]") {
		return "an array"
	}
	if strings.Contains(t, "ccai.wire") {
		return "an object"
	}
	return t
}

// mapCall maps one call object. It is pure: no clock, no I/O.
func mapCall(spec upstreams.SourceSpec, op string, raw json.RawMessage) (*mapped, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return nil, spec.FieldError(op, "(call)", errors.New("expected a JSON object"))
	}
	var w wireCall
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, decodeErr(spec, op, "", err)
	}
	if w.ID == "" {
		return nil, spec.FieldError(op, "id", errors.New("missing call id"))
	}
	if !w.CreatedAt.Set {
		return nil, spec.FieldError(op, "created_at", errors.New("missing creation time"))
	}
	handles, handleRaw, err := decodeRows[wireHandle](spec, op, "handle_durations", w.HandleDurations)
	if err != nil {
		return nil, err
	}
	qrows, qRaw, err := decodeRows[wireQueueDuration](spec, op, "queue_durations", w.QueueDurations)
	if err != nil {
		return nil, err
	}
	parts, partRaw, err := decodeRows[wireParticipant](spec, op, "participants", w.Participants)
	if err != nil {
		return nil, err
	}

	m := &mapper{spec: spec, w: &w, agentNames: map[string]string{}, menuNames: map[string]string{}}
	m.indexNames(handles, qrows)
	c := &model.Call{
		ID:            model.GlobalID(model.KindCall, spec.ID, string(w.ID)),
		VendorID:      string(w.ID),
		SourceID:      spec.ID,
		Vendor:        spec.Vendor,
		Direction:     direction(w.CallType.S),
		Channel:       channel(w.CallType.S),
		Outcome:       outcome(&w),
		VendorStatus:  w.Status.ptr(),
		VendorReason:  vendorReason(&w),
		StartedAt:     w.CreatedAt.T,
		AnsweredAt:    w.ConnectedAt.ptr(),
		Customer:      customer(w.EndUser),
		ServiceNumber: firstNonEmpty(w.SupportNumber.ptr(), w.OutboundNumber.ptr()),
		EndReason:     endReason(w.DisconnectedBy.S),
		RecordingURL:  w.RecordingURL.ptr(),
		Disposition:   disposition(w.Dispositions),
		Raw:           append(json.RawMessage(nil), raw...),
	}
	if c.Outcome != model.OutcomeInProgress {
		c.EndedAt = w.EndsAt.ptr()
	}
	if w.Transfers != nil {
		c.Transfers = model.Ptr(len(*w.Transfers))
	}
	switch {
	case c.RecordingURL != nil || len(w.Recordings) > 0:
		c.Recorded = model.Ptr(true)
	case w.RecordingURL.Present:
		c.Recorded = model.Ptr(false)
	}
	if w.HandleDurations != nil || w.Participants != nil {
		c.Legs, c.LegsLoaded = m.legs(handles, handleRaw, parts, partRaw), true
		if c.Legs == nil {
			c.Legs = []*model.CallLeg{}
		}
	}
	if w.QueueDurations != nil {
		c.QueueSegments, c.SegmentsLoaded = m.segments(c, qrows, qRaw), true
		if c.QueueSegments == nil {
			c.QueueSegments = []*model.QueueSegment{}
		}
	}
	c.Agents = m.agents(c.Legs)
	c.Queues = m.queues(qrows)
	c.Ivrs = m.ivrs()
	c.Durations = m.durations(c, handles)
	var menu struct {
		Selected json.RawMessage `json:"selected_menu"`
	}
	_ = json.Unmarshal(raw, &menu) // the whole document decoded above; this cannot fail
	return &mapped{call: c, updated: w.UpdatedAt.T, queues: m.queueInfos(qrows, menu.Selected)}, nil
}

// decodeRows decodes an array of rows one by one, keeping each row's document.
func decodeRows[T any](spec upstreams.SourceSpec, op, field string, rows *[]json.RawMessage) ([]T, []json.RawMessage, error) {
	if rows == nil {
		return nil, nil, nil
	}
	out := make([]T, 0, len(*rows))
	raws := make([]json.RawMessage, 0, len(*rows))
	for i, r := range *rows {
		if t := bytes.TrimSpace(r); len(t) == 0 || t[0] != '{' {
			return nil, nil, spec.FieldError(op, fmt.Sprintf("%s[%d]", field, i), errors.New("expected a JSON object"))
		}
		var v T
		if err := json.Unmarshal(r, &v); err != nil {
			return nil, nil, decodeErr(spec, op, fmt.Sprintf("%s[%d]", field, i), err)
		}
		out = append(out, v)
		raws = append(raws, r)
	}
	return out, raws, nil
}

// norm lower-cases an enum value and accepts the display forms ("Voicemail Received").
func norm(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "_")
}

// direction maps call_type, in its display form or its filter form (call_type[] values).
func direction(callType string) model.Direction {
	switch strings.ToLower(strings.TrimSpace(callType)) {
	case "voice inbound (ivr)", "voice inbound (app)", "voice callback (web)",
		"ivrcall", "incomingcallapp", "incomingcallweb":
		return model.DirectionInbound
	case "voice scheduled (app)", "voice scheduled (web)", "voice outbound",
		"scheduledcallapp", "scheduledcallweb", "outboundcall", "agentscheduledcall":
		return model.DirectionOutbound
	}
	// An unlisted display form still says its direction ("Voice Inbound (Kiosk)").
	// ActionOnlyCall runs on the customer's own telephony and does not say.
	t := strings.ToLower(strings.TrimSpace(callType))
	switch {
	case strings.HasPrefix(t, "voice inbound"), strings.HasPrefix(t, "voice callback"):
		return model.DirectionInbound
	case strings.HasPrefix(t, "voice outbound"), strings.HasPrefix(t, "voice scheduled"):
		return model.DirectionOutbound
	}
	return model.DirectionUnknown
}

// channel: the calls endpoint serves voice only; an unknown non-empty call_type is OTHER.
func channel(callType string) model.Channel {
	t := strings.ToLower(strings.TrimSpace(callType))
	if t == "" || strings.HasPrefix(t, "voice") || direction(t) != model.DirectionUnknown || t == "actiononlycall" {
		return model.ChannelVoice
	}
	return model.ChannelOther
}

func outcome(w *wireCall) model.Outcome {
	switch norm(w.Status.S) {
	case "selecting", "queued", "assigned", "connecting", "connected", "switching", "action_only", "voicemail":
		return model.OutcomeInProgress
	case "finished", "action_only_finished", "recovered":
		return model.OutcomeAnswered
	case "failed":
		return failOutcome(norm(w.FailReason.S), strings.TrimSpace(w.AdapterFailCode.S))
	case "deflected":
		switch {
		case hasValue(w.VoicemailReason.S, "not_voicemail"):
			return model.OutcomeVoicemail
		case w.ScheduledAt.Set:
			return model.OutcomeCallback
		default: // over capacity or after hours, nobody took it
			return model.OutcomeMissed
		}
	case "scheduled":
		return model.OutcomeCallback
	case "voicemail_received", "voicemail_read":
		return model.OutcomeVoicemail
	default: // unknown status: judge by the timestamps, vendorStatus keeps the value
		switch {
		case !w.EndsAt.Set:
			return model.OutcomeInProgress
		case w.ConnectedAt.Set:
			return model.OutcomeAnswered
		default:
			return model.OutcomeFailed
		}
	}
}

// failOutcome follows the schema: the customer hanging up waiting is ABANDONED; nobody of
// the center taking the call is MISSED; busy, rejected, unreachable and technical are FAILED.
func failOutcome(reason, adapterCode string) model.Outcome {
	switch reason {
	case "eu_abandoned", "eu_in_menu_abandoned", "eu_canceled":
		return model.OutcomeAbandoned
	case "expired", "ag_ignored":
		return model.OutcomeMissed
	case "", "nothing", "unknown":
		switch adapterCode {
		case "20001", "20003", "20004":
			return model.OutcomeAbandoned
		case "11001", "30002":
			return model.OutcomeMissed
		}
	}
	return model.OutcomeFailed
}

// hasValue reports a set value other than the vendor's "nothing happened" default.
func hasValue(v, none string) bool {
	v = norm(v)
	return v != "" && v != none && v != "null"
}

// vendorReason keeps every non-default reason field as key=value, in a fixed order.
func vendorReason(w *wireCall) *string {
	var parts []string
	add := func(key, v, none string) {
		if hasValue(v, none) {
			parts = append(parts, key+"="+strings.TrimSpace(v))
		}
	}
	add("fail_reason", w.FailReason.S, "nothing")
	add("adapter_fail_code", w.AdapterFailCode.S, "")
	add("deflection", w.Deflection.S, "no_deflection")
	add("voicemail_reason", w.VoicemailReason.S, "not_voicemail")
	if len(parts) == 0 {
		return nil
	}
	return model.Ptr(strings.Join(parts, "; "))
}

func endReason(disconnectedBy string) *string {
	switch v := norm(disconnectedBy); v {
	case "", "disconnected_by_unknown":
		return nil
	case "disconnected_by_end_user", "disconnected_by_consumer":
		return model.Ptr("customer_hangup")
	case "disconnected_by_agent":
		return model.Ptr("agent_hangup")
	default:
		return model.Ptr(strings.TrimSpace(disconnectedBy))
	}
}

// customer: end_user.identifier is whatever identifies the end user (phone number for IVR
// calls, an e-mail or a name for app/web users); it is sorted into the matching field.
func customer(u *wireEndUser) *model.Customer {
	if u == nil {
		return nil
	}
	id := u.Identifier.ptr()
	if id == nil {
		return nil
	}
	v := strings.TrimSpace(*id)
	switch {
	case looksLikePhone(v):
		return &model.Customer{Number: &v}
	case strings.Contains(v, "@"):
		return &model.Customer{Email: &v}
	default:
		return &model.Customer{Name: &v}
	}
}

func looksLikePhone(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, r == ' ', r == '-', r == '(', r == ')':
		default:
			return false
		}
	}
	return digits >= 3
}

func disposition(ds []wireDisposition) *string {
	var codes []string
	for _, d := range ds {
		if c := strings.TrimSpace(d.Code.S); c != "" && !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	if len(codes) == 0 {
		return nil
	}
	return model.Ptr(strings.Join(codes, ", "))
}

func firstNonEmpty(ps ...*string) *string {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

// leaf and root split a materialized menu path ("Death Star/Carpentry").
func leaf(path string) string {
	path = strings.Trim(strings.TrimSpace(path), "/")
	if i := strings.LastIndex(path, "/"); i >= 0 {
		return strings.TrimSpace(path[i+1:])
	}
	return path
}

func root(path string) (name string, depth int) {
	parts := strings.Split(strings.Trim(strings.TrimSpace(path), "/"), "/")
	return strings.TrimSpace(parts[0]), len(parts)
}

// mapper holds the per-call indexes the parts of the mapping share.
type mapper struct {
	spec       upstreams.SourceSpec
	w          *wireCall
	agentNames map[string]string // agent id → display name
	menuNames  map[string]string // menu id → leaf name
}

func (m *mapper) indexNames(handles []wireHandle, qrows []wireQueueDuration) {
	addAgent := func(a *wireAgent) {
		if a != nil && a.ID.known() && a.Name.ptr() != nil {
			m.agentNames[string(a.ID)] = strings.TrimSpace(a.Name.S)
		}
	}
	addAgent(m.w.AgentInfo)
	if m.w.Transfers != nil {
		for _, t := range *m.w.Transfers {
			addAgent(t.FromAgent)
			addAgent(t.ToAgent)
		}
	}
	addMenu := func(id flexID, name string) {
		if id.known() && name != "" {
			if _, ok := m.menuNames[string(id)]; !ok {
				m.menuNames[string(id)] = name
			}
		}
	}
	if s := m.w.SelectedMenu; s != nil {
		addMenu(s.ID, strings.TrimSpace(s.Name.S))
		if m.w.MenuPath != nil {
			addMenu(s.ID, leaf(m.w.MenuPath.MaterializedPath.S))
		}
	}
	for _, q := range qrows {
		addMenu(q.MenuPathID, leaf(q.MenuPath.S))
	}
	for _, h := range handles {
		addMenu(h.MenuPathID, leaf(h.MenuPath.S))
	}
}

func (m *mapper) agentRef(id flexID) *model.Ref {
	if !id.known() {
		return nil
	}
	return model.NewRef(model.KindAgent, m.spec.ID, string(id), m.agentNames[string(id)])
}

func (m *mapper) queueRef(id flexID, path string) *model.Ref {
	name := m.menuNames[string(id)]
	if name == "" {
		name = leaf(path)
	}
	if !id.known() {
		id = ""
	}
	if id == "" && name == "" {
		return nil
	}
	return model.NewRef(model.KindQueue, m.spec.ID, string(id), name)
}

// refList appends refs, dropping empty ones and repeats (by vendor id, else by name).
type refList []*model.Ref

func (l *refList) add(r *model.Ref) {
	if r == nil || (r.VendorID == nil && r.Name == nil) {
		return
	}
	for _, x := range *l {
		if (r.VendorID != nil && x.VendorID != nil && *r.VendorID == *x.VendorID) ||
			(r.VendorID == nil && x.Name != nil && r.Name != nil && *r.Name == *x.Name) {
			if x.Name == nil {
				x.Name = r.Name
			}
			return
		}
	}
	*l = append(*l, r)
}

func (l refList) list() []*model.Ref {
	if l == nil {
		return []*model.Ref{}
	}
	return l
}

// agents: in leg (offer) order, then agent_info, then the agents of transfers.
func (m *mapper) agents(legs []*model.CallLeg) []*model.Ref {
	var l refList
	for _, leg := range legs {
		if leg.Agent != nil {
			l.add(&model.Ref{ID: leg.Agent.ID, VendorID: leg.Agent.VendorID, Name: leg.Agent.Name})
		}
	}
	ref := func(a *wireAgent) *model.Ref {
		if a == nil {
			return nil
		}
		id := a.ID
		if !id.known() {
			id = ""
		}
		return model.NewRef(model.KindAgent, m.spec.ID, string(id), strings.TrimSpace(a.Name.S))
	}
	l.add(ref(m.w.AgentInfo))
	if m.w.Transfers != nil {
		for _, t := range *m.w.Transfers {
			l.add(ref(t.FromAgent))
			l.add(ref(t.ToAgent))
		}
	}
	return l.list()
}

// queues: the queue_durations rows in order, then the selected menu (the leaf the call was
// queued at, also when it is still waiting there).
func (m *mapper) queues(qrows []wireQueueDuration) []*model.Ref {
	var l refList
	for _, q := range qrows {
		l.add(m.queueRef(q.MenuPathID, q.MenuPath.S))
	}
	l.add(m.selectedQueue())
	return l.list()
}

func (m *mapper) selectedQueue() *model.Ref {
	s := m.w.SelectedMenu
	if s == nil {
		return nil
	}
	path := ""
	if m.w.MenuPath != nil {
		path = m.w.MenuPath.MaterializedPath.S
	}
	return m.queueRef(s.ID, path)
}

// ivrs: the menu tree's root (from the in-menu durations and the materialized path of the
// selected menu, when that path has a root above the leaf) and the virtual agent, which is
// automated handling too. The root's id is known only when a path names it alone or the
// selected menu hangs directly under it.
func (m *mapper) ivrs() []*model.Ref {
	var l refList
	if m.w.ConsumerInMenuDurations != nil {
		for _, d := range *m.w.ConsumerInMenuDurations {
			name, depth := root(d.MenuPath.S)
			id := ""
			if depth == 1 && d.MenuPathID.known() {
				id = string(d.MenuPathID)
			}
			if name != "" || id != "" {
				l.add(model.NewRef(model.KindIVR, m.spec.ID, id, name))
			}
		}
	}
	if p := m.w.MenuPath; p != nil && p.MaterializedPath.ptr() != nil && strings.Contains(p.MaterializedPath.S, "/") {
		name, depth := root(p.MaterializedPath.S)
		id := ""
		if s := m.w.SelectedMenu; depth == 2 && s != nil && s.ParentID.known() {
			id = string(s.ParentID)
		}
		l.add(model.NewRef(model.KindIVR, m.spec.ID, id, name))
	}
	if va := m.w.VirtualAgent; va != nil && (va.ID.known() || va.Name.ptr() != nil) {
		id := ""
		if va.ID.known() {
			id = "va-" + string(va.ID)
		}
		l.add(model.NewRef(model.KindIVR, m.spec.ID, id, strings.TrimSpace(va.Name.S)))
	}
	return l.list()
}

func (m *mapper) durations(c *model.Call, handles []wireHandle) *model.CallDurations {
	w := m.w
	d := &model.CallDurations{HoldSeconds: w.HoldDuration.ptr()}
	if c.EndedAt != nil {
		d.TotalSeconds = model.Ptr(max(0, int(c.EndedAt.Sub(c.StartedAt)/time.Second)))
	}
	d.QueueSeconds = w.QueueDuration.ptr()
	if d.QueueSeconds == nil {
		d.QueueSeconds = w.WaitDuration.ptr()
	}
	d.WaitSeconds = d.QueueSeconds
	if w.CallDuration.Set {
		d.TalkSeconds = model.Ptr(max(0, w.CallDuration.V-w.HoldDuration.V))
	}
	if w.HandleDurations != nil {
		acw := 0
		for _, h := range handles {
			acw += h.AcwDuration.V
		}
		d.WrapUpSeconds = &acw
	}
	d.IvrSeconds = m.ivrSeconds()
	if c.LegsLoaded {
		ring := 0
		for _, l := range c.Legs {
			if l.RingSeconds == nil {
				ring = -1
				break
			}
			ring += *l.RingSeconds
		}
		if ring >= 0 {
			d.RingSeconds = &ring
		}
	}
	return d
}

func (m *mapper) ivrSeconds() *int {
	w := m.w
	if w.ConsumerInMenuDurations == nil && len(w.VirtualAgentHandleDurations) == 0 {
		if w.QueuedAt.Set && !w.QueuedAt.T.Before(w.CreatedAt.T) {
			return model.Ptr(int(w.QueuedAt.T.Sub(w.CreatedAt.T) / time.Second))
		}
		return nil
	}
	n := 0
	if w.ConsumerInMenuDurations != nil {
		for _, d := range *w.ConsumerInMenuDurations {
			n += d.Duration.V
		}
	}
	for _, d := range w.VirtualAgentHandleDurations {
		n += d.CallDuration.V
	}
	return &n
}

// legs builds one leg per agent part. A handle_durations row holding only after-call work
// (call_duration 0) belongs to the agent's preceding row. Agent participants give the legs
// that have no handle row yet (ringing, talking now, or offered and not answered).
func (m *mapper) legs(handles []wireHandle, handleRaw []json.RawMessage, parts []wireParticipant, partRaw []json.RawMessage) []*model.CallLeg {
	type acc struct {
		rows                  []json.RawMessage
		first                 wireHandle
		call, hold, acw, ring flexInt
	}
	var accs []*acc
	sum := func(a, b flexInt) flexInt {
		if !b.Set {
			return a
		}
		return flexInt{V: a.V + b.V, Set: true}
	}
	for i, h := range handles {
		var into *acc
		if h.CallDuration.V == 0 && h.AcwDuration.V > 0 {
			for j := len(accs) - 1; j >= 0; j-- {
				if accs[j].first.AgentID == h.AgentID && accs[j].first.TransferID == h.TransferID {
					into = accs[j]
					break
				}
			}
		}
		if into == nil {
			into = &acc{first: h}
			accs = append(accs, into)
		}
		into.rows = append(into.rows, handleRaw[i])
		into.call, into.hold = sum(into.call, h.CallDuration), sum(into.hold, h.HoldDuration)
		into.acw, into.ring = sum(into.acw, h.AcwDuration), sum(into.ring, h.AssignedConnectionDuration)
	}
	handleLegs := make([]*model.CallLeg, len(accs))
	transferOf := map[string]*model.CallLeg{} // transfer_id → receiving leg
	coldOf := map[*model.CallLeg]flexBool{}
	for i, a := range accs {
		h := a.first
		leg := &model.CallLeg{
			ID:            "handle:" + string(h.ID),
			Agent:         m.agentRef(h.AgentID),
			Queue:         m.queueRef(h.MenuPathID, h.MenuPath.S),
			EndedAt:       h.EndedAt.ptr(),
			Answered:      model.Ptr(a.call.V > 0),
			RingSeconds:   a.ring.ptr(),
			HoldSeconds:   a.hold.ptr(),
			WrapUpSeconds: a.acw.ptr(),
			EndReason:     h.Event.ptr(),
			Raw:           a.rows[0],
		}
		if h.ID == "" {
			leg.ID = fmt.Sprintf("handle#%d", i)
		}
		if len(a.rows) > 1 {
			leg.Raw, _ = json.Marshal(a.rows)
		}
		if a.call.Set {
			leg.TalkSeconds = model.Ptr(max(0, a.call.V-a.hold.V))
		}
		if a.call.V > 0 {
			leg.AnsweredAt = h.StartedAt.ptr()
			if h.StartedAt.Set && a.ring.Set {
				leg.OfferedAt = model.Ptr(h.StartedAt.T.Add(-time.Duration(a.ring.V) * time.Second))
			}
		}
		if h.Transfer.Set {
			leg.TransferredIn = model.Ptr(h.Transfer.V)
			if h.Transfer.V {
				leg.TransferType = transferType(h.TransferCold)
			}
		}
		if h.TransferID.known() {
			transferOf[string(h.TransferID)] = leg
			coldOf[leg] = h.TransferCold
		}
		handleLegs[i] = leg
	}
	m.markTransfersOut(handleLegs, transferOf, coldOf)

	// An answered participant is the handle leg of its agent that started when it
	// connected (or that agent's next unused one); the others are legs of their own.
	var out []*model.CallLeg
	used := make([]bool, len(handleLegs))
	pick := func(p wireParticipant) int {
		best := -1
		for k, l := range handleLegs {
			if used[k] || l.Agent == nil || *l.Agent.VendorID != string(p.UserID) {
				continue
			}
			if l.AnsweredAt != nil && p.ConnectedAt.Set && l.AnsweredAt.Equal(p.ConnectedAt.T) {
				return k
			}
			if best < 0 {
				best = k
			}
		}
		return best
	}
	for i, p := range parts {
		if norm(p.Type.S) != "agent" {
			continue
		}
		if p.UserID.known() && (p.ConnectedAt.Set || p.CallDuration.V > 0) {
			if k := pick(p); k >= 0 {
				used[k] = true
				out = append(out, handleLegs[k])
				continue
			}
		}
		out = append(out, m.participantLeg(p, partRaw[i]))
	}
	for j, l := range handleLegs {
		if !used[j] {
			out = append(out, l)
		}
	}
	return out
}

func transferType(cold flexBool) *string {
	if !cold.Set {
		return nil
	}
	if cold.V {
		return model.Ptr("blind")
	}
	return model.Ptr("attended")
}

// markTransfersOut sets TransferredOut on the leg of each transfer's from_agent whose time
// span holds the transfer, and the transfer type from the receiving leg's transfer_cold.
func (m *mapper) markTransfersOut(legs []*model.CallLeg, transferOf map[string]*model.CallLeg, coldOf map[*model.CallLeg]flexBool) {
	if m.w.Transfers == nil {
		return
	}
	for _, l := range legs {
		l.TransferredOut = model.Ptr(false)
	}
	for _, t := range *m.w.Transfers {
		if t.FromAgent == nil || !t.FromAgent.ID.known() {
			continue
		}
		for _, l := range legs {
			if l.Agent == nil || *l.Agent.VendorID != string(t.FromAgent.ID) || *l.TransferredOut {
				continue
			}
			if t.CreatedAt.Set && l.AnsweredAt != nil && l.EndedAt != nil &&
				(t.CreatedAt.T.Before(*l.AnsweredAt) || t.CreatedAt.T.After(*l.EndedAt)) {
				continue
			}
			l.TransferredOut = model.Ptr(true)
			l.TransferType = nil
			if to, ok := transferOf[string(t.ID)]; ok && t.ID.known() {
				l.TransferType = transferType(coldOf[to])
			}
			break
		}
	}
}

func (m *mapper) participantLeg(p wireParticipant, raw json.RawMessage) *model.CallLeg {
	leg := &model.CallLeg{
		ID:          "participant:" + string(p.ID),
		Agent:       m.agentRef(p.UserID),
		AnsweredAt:  p.ConnectedAt.ptr(),
		EndedAt:     p.EndedAt.ptr(),
		Answered:    model.Ptr(p.ConnectedAt.Set || p.CallDuration.V > 0),
		HoldSeconds: p.HoldDuration.ptr(),
		Raw:         raw,
	}
	if p.CallDuration.Set {
		leg.TalkSeconds = model.Ptr(max(0, p.CallDuration.V-p.HoldDuration.V))
	}
	if hasValue(p.FailReason.S, "nothing") {
		leg.EndReason = model.Ptr(strings.TrimSpace(p.FailReason.S))
	}
	return leg
}

// segments maps queue_durations rows; a call queued now also gets the open segment of the
// queue it waits in (the rows are written when a stay ends).
func (m *mapper) segments(c *model.Call, qrows []wireQueueDuration, raws []json.RawMessage) []*model.QueueSegment {
	var out []*model.QueueSegment
	for i, q := range qrows {
		s := &model.QueueSegment{
			Queue:        m.queueRef(q.MenuPathID, q.MenuPath.S),
			Agent:        m.agentRef(q.AgentID),
			EnteredAt:    q.StartedAt.ptr(),
			LeftAt:       q.EndedAt.ptr(),
			WaitSeconds:  q.QueueDuration.ptr(),
			VendorReason: q.Event.ptr(),
			Raw:          raws[i],
		}
		switch ev := norm(q.Event.S); {
		case ev == "answered":
			s.Answered, s.Abandoned = model.Ptr(true), model.Ptr(false)
		case ev == "abandoned":
			s.Answered, s.Abandoned = model.Ptr(false), model.Ptr(true)
		case ev != "":
			s.Answered, s.Abandoned = model.Ptr(false), model.Ptr(false)
		case q.AgentID.known():
			s.Answered, s.Abandoned = model.Ptr(true), model.Ptr(false)
		case s.LeftAt != nil:
			s.Answered = model.Ptr(false)
			if i == len(qrows)-1 {
				s.Abandoned = model.Ptr(c.Outcome == model.OutcomeAbandoned)
			}
		}
		switch norm(q.ServiceLevelEvent.S) {
		case "in_sla":
			s.WithinSLA = model.Ptr(true)
		case "not_in_sla":
			s.WithinSLA = model.Ptr(false)
		}
		out = append(out, s)
	}
	if norm(m.w.Status.S) != "queued" || slices.ContainsFunc(out, func(s *model.QueueSegment) bool { return s.LeftAt == nil }) {
		return out
	}
	if q := m.selectedQueue(); q != nil {
		entered := m.w.QueuedAt.ptr()
		later := func(t stamp) {
			if t.Set && (entered == nil || t.T.After(*entered)) {
				entered = model.Ptr(t.T)
			}
		}
		for _, r := range qrows {
			later(r.EndedAt)
		}
		if m.w.Transfers != nil {
			for _, t := range *m.w.Transfers {
				later(t.CreatedAt)
			}
		}
		out = append(out, &model.QueueSegment{Queue: q, EnteredAt: entered})
	}
	return out
}

// queueInfos lists the queues of the call with the settings of their latest rows.
func (m *mapper) queueInfos(qrows []wireQueueDuration, menuRaw json.RawMessage) []queueInfo {
	var out []queueInfo
	find := func(id string) *queueInfo {
		for i := range out {
			if out[i].vendorID == id {
				return &out[i]
			}
		}
		out = append(out, queueInfo{vendorID: id})
		return &out[len(out)-1]
	}
	for _, q := range qrows {
		ref := m.queueRef(q.MenuPathID, q.MenuPath.S)
		if ref == nil || ref.VendorID == nil {
			continue
		}
		qi := find(*ref.VendorID)
		if ref.Name != nil {
			qi.name = *ref.Name
		}
		if q.ServiceLevelTargetTime.V > 0 {
			qi.slaSeconds = q.ServiceLevelTargetTime.V
		}
		if q.ServiceLevelAbandonTimeThreshold.V > 0 {
			qi.shortAbandon = q.ServiceLevelAbandonTimeThreshold.V
		}
	}
	if ref := m.selectedQueue(); ref != nil && ref.VendorID != nil {
		qi := find(*ref.VendorID)
		if ref.Name != nil {
			qi.name = *ref.Name
		}
		qi.raw = menuRaw
	}
	return out
}
