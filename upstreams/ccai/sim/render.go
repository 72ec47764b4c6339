package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// The call object as ccai-platform-calls.txt shows it (field order of the example).

type callDoc struct {
	ID                      int64          `json:"id"`
	ParentID                *int64         `json:"parent_id"`
	Lang                    string         `json:"lang"`
	CallType                string         `json:"call_type"`
	Status                  string         `json:"status"`
	SubStatus               *string        `json:"sub_status"`
	CreatedAt               string         `json:"created_at"`
	QueuedAt                *string        `json:"queued_at"`
	AssignedAt              *string        `json:"assigned_at"`
	ConnectedAt             *string        `json:"connected_at"`
	EndsAt                  *string        `json:"ends_at"`
	UpdatedAt               string         `json:"updated_at"`
	ScheduledAt             *string        `json:"scheduled_at"`
	QueueDuration           int            `json:"queue_duration"`
	WaitDuration            int            `json:"wait_duration"`
	CallDuration            int            `json:"call_duration"`
	HoldDuration            int            `json:"hold_duration"`
	Rating                  *int           `json:"rating"`
	HasFeedback             bool           `json:"has_feedback"`
	VoipProvider            string         `json:"voip_provider"`
	OutTicketID             *string        `json:"out_ticket_id"`
	OutTicketURL            *string        `json:"out_ticket_url"`
	Verified                bool           `json:"verified"`
	RecordingURL            *string        `json:"recording_url"`
	RecordingPermission     string         `json:"recording_permission"`
	VoicemailReason         string         `json:"voicemail_reason"`
	Deflection              string         `json:"deflection"`
	DisconnectedBy          string         `json:"disconnected_by"`
	FinishReason            string         `json:"finish_reason"`
	FailReason              string         `json:"fail_reason"`
	FailDetails             *string        `json:"fail_details"`
	AdapterFailCode         *int           `json:"adapter_fail_code"`
	AdapterFailMessage      *string        `json:"adapter_fail_message"`
	SupportNumber           *string        `json:"support_number"`
	SelectedMenu            *menuDoc       `json:"selected_menu"`
	MenuPath                *menuPathDoc   `json:"menu_path"`
	QueuePriorityLevel      int            `json:"queue_priority_level"`
	AgentInfo               *agentDoc      `json:"agent_info"`
	EndUser                 *endUserDoc    `json:"end_user"`
	Photos                  []any          `json:"photos"`
	Videos                  []any          `json:"videos"`
	Transfers               []transferDoc  `json:"transfers"`
	Participants            []participant  `json:"participants"`
	OfferType               *string        `json:"offer_type"`
	OfferEvents             []any          `json:"offer_events"`
	AnswerType              string         `json:"answer_type"`
	OutboundNumber          *string        `json:"outbound_number"`
	Dispositions            []disposition  `json:"dispositions"`
	ConsumerInMenuDurations []menuDuration `json:"consumer_in_menu_durations"`
	HandleDurations         []handleRow    `json:"handle_durations"`
	QueueDurations          []queueRow     `json:"queue_durations"`
}

type menuDoc struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	ParentID  int64   `json:"parent_id"`
	Position  int     `json:"position"`
	Deleted   bool    `json:"deleted"`
	Hidden    bool    `json:"hidden"`
	MenuType  string  `json:"menu_type"`
	OutputMsg *string `json:"output_msg"`
}

type menuPathDoc struct {
	ItemsCount       int    `json:"items_count"`
	Name             string `json:"name"`
	MaterializedPath string `json:"materialized_path"`
}

type agentDoc struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	LastName    string  `json:"last_name"`
	FirstName   string  `json:"first_name"`
	AgentNumber string  `json:"agent_number"`
	AvatarURL   *string `json:"avatar_url"`
}

type endUserDoc struct {
	ID           int64   `json:"id"`
	Identifier   string  `json:"identifier"`
	OutContactID *string `json:"out_contact_id"`
}

type transferDoc struct {
	ID         int64        `json:"id"`
	Status     string       `json:"status"`
	FailReason string       `json:"fail_reason"`
	CreatedAt  string       `json:"created_at"`
	FromMenu   *menuPathDoc `json:"from_menu"`
	ToMenu     *menuPathDoc `json:"to_menu"`
	FromAgent  *agentDoc    `json:"from_agent"`
	ToAgent    *agentDoc    `json:"to_agent"`
}

type participant struct {
	ID           int64   `json:"id"`
	Type         string  `json:"type"`
	Status       string  `json:"status"`
	CallID       int64   `json:"call_id"`
	UserID       *int64  `json:"user_id"`
	EndUserID    *int64  `json:"end_user_id"`
	CallDuration *int    `json:"call_duration"`
	HoldDuration *int    `json:"hold_duration"`
	ConnectedAt  *string `json:"connected_at"`
	EndedAt      *string `json:"ended_at"`
	FailReason   string  `json:"fail_reason"`
}

type disposition struct {
	UserID        int64  `json:"user_id"`
	ParticipantID int64  `json:"participant_id"`
	Code          string `json:"code"`
}

type menuDuration struct {
	ID         int64  `json:"id"`
	Event      string `json:"event"`
	Duration   int    `json:"duration"`
	MenuPathID int64  `json:"menu_path_id"`
	MenuPath   string `json:"menu_path"`
	Lang       string `json:"lang"`
	StartedAt  string `json:"started_at"`
	EndedAt    string `json:"ended_at"`
}

type handleRow struct {
	ID                         int64   `json:"id"`
	AgentID                    int64   `json:"agent_id"`
	AcwDuration                int     `json:"acw_duration"`
	BcwDuration                int     `json:"bcw_duration"`
	CallDuration               int     `json:"call_duration"`
	AssignedConnectionDuration int     `json:"assigned_connection_duration"`
	HoldDuration               int     `json:"hold_duration"`
	MenuPathID                 *int64  `json:"menu_path_id"`
	MenuPath                   *string `json:"menu_path"`
	Lang                       string  `json:"lang"`
	Barged                     int     `json:"barged"`
	Transfer                   int     `json:"transfer"`
	TransferID                 *int64  `json:"transfer_id"`
	TransferCold               int     `json:"transfer_cold"`
	StartedAt                  string  `json:"started_at"`
	EndedAt                    string  `json:"ended_at"`
	ScheduledAt                *string `json:"scheduled_at"`
	Event                      string  `json:"event"`
}

type queueRow struct {
	ID                               int64  `json:"id"`
	AgentID                          *int64 `json:"agent_id"`
	QueueDuration                    int    `json:"queue_duration"`
	MenuPathID                       int64  `json:"menu_path_id"`
	MenuPath                         string `json:"menu_path"`
	Lang                             string `json:"lang"`
	Transfer                         int    `json:"transfer"`
	TransferID                       *int64 `json:"transfer_id"`
	TransferCold                     int    `json:"transfer_cold"`
	StartedAt                        string `json:"started_at"`
	EndedAt                          string `json:"ended_at"`
	ServiceLevelAbandonTimeThreshold int    `json:"service_level_abandon_time_threshold"`
	ServiceLevelEvent                string `json:"service_level_event"`
	ServiceLevelTargetPercent        int    `json:"service_level_target_percent"`
	ServiceLevelTargetTime           int    `json:"service_level_target_time"`
	Event                            string `json:"event"`
}

// rendered is a call document with the values the filters compare.
type rendered struct {
	doc                    *callDoc
	created, updated       time.Time
	connected, queued      *time.Time
	agents                 []string
	endUser, support, kind string // kind: the call_type[] filter name
}

// CallID is the vendor id of a simcc call: its sequence number.
func CallID(seq int64) string { return strconv.FormatInt(seq, 10) }

// AgentID is the vendor user id of a simcc agent ("a07" → "7").
func AgentID(simID string) string { return strconv.FormatInt(digits(simID), 10) }

// QueueMenuID is the menu id of a simcc queue: the leaf menu node "q3" → "103".
func QueueMenuID(simID string) string { return strconv.FormatInt(100+digits(simID), 10) }

// IVRMenuID is the menu id of a simcc IVR: the root menu node "i1" → "1".
func IVRMenuID(simID string) string { return strconv.FormatInt(digits(simID), 10) }

func digits(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimLeft(s, "abcdefghijklmnopqrstuvwxyz"), 10, 64)
	return n
}

func stampOf(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func optStamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := stampOf(t)
	return &s
}

func ptr[T any](v T) *T { return &v }

// directory holds the center's agents, queues and IVRs by simcc id.
type directory struct {
	agents       map[string]simcc.Agent
	queues       map[string]simcc.Queue
	ivrs         map[string]simcc.IVR
	shortAbandon int
}

func newDirectory(c *simcc.Center) *directory {
	d := &directory{agents: map[string]simcc.Agent{}, queues: map[string]simcc.Queue{}, ivrs: map[string]simcc.IVR{},
		shortAbandon: c.Config().ShortAbandonSeconds}
	for _, a := range c.Agents() {
		d.agents[a.ID] = a
	}
	for _, q := range c.Queues() {
		d.queues[q.ID] = q
	}
	for _, i := range c.IVRs() {
		d.ivrs[i.ID] = i
	}
	return d
}

func (d *directory) agent(id string) *agentDoc {
	a, ok := d.agents[id]
	if !ok {
		return nil
	}
	first, last, _ := strings.Cut(a.Name, " ")
	return &agentDoc{ID: digits(id), Name: a.Name, FirstName: first, LastName: last, AgentNumber: a.Extension}
}

// menuPath is the queue's node in the menu tree; a call that dialled the queue's own
// number reached the leaf directly, so its path does not run through the IVR.
func (d *directory) menuPath(queueID string, viaIVR bool) *menuPathDoc {
	q, ok := d.queues[queueID]
	if !ok {
		return nil
	}
	if !viaIVR {
		return &menuPathDoc{Name: q.Name, MaterializedPath: q.Name}
	}
	return &menuPathDoc{Name: q.Name, MaterializedPath: d.ivrs[q.IVRID].Name + "/" + q.Name}
}

// render draws one simcc call (as of now) as the vendor's call object.
func (d *directory) render(c simcc.Call, now time.Time) *rendered {
	seq := c.Seq
	doc := &callDoc{
		ID: seq, Lang: "en", CreatedAt: stampOf(c.StartedAt), VoipProvider: "voip_provider_twilio",
		RecordingPermission: "not_asked", VoicemailReason: "not_voicemail", Deflection: "no_deflection",
		DisconnectedBy: "disconnected_by_unknown", FinishReason: "no_reason", FailReason: "nothing",
		Verified: seq%3 == 0, AnswerType: "manual",
		Photos: []any{}, Videos: []any{}, OfferEvents: []any{}, Transfers: []transferDoc{}, Participants: []participant{},
		Dispositions: []disposition{}, ConsumerInMenuDurations: []menuDuration{}, HandleDurations: []handleRow{}, QueueDurations: []queueRow{},
		AssignedAt: nil, ConnectedAt: optStamp(c.AnsweredAt), EndsAt: optStamp(c.EndedAt),
	}
	r := &rendered{doc: doc, created: c.StartedAt}
	if !c.AnsweredAt.IsZero() {
		r.connected = ptr(c.AnsweredAt)
	}
	if c.CallbackOf != "" {
		doc.ParentID = ptr(digits(c.CallbackOf))
	}
	inbound := c.Direction == simcc.DirectionInbound
	viaIVR := c.IVRID != ""
	if inbound {
		doc.CallType, r.kind = "Voice Inbound (IVR)", "IvrCall"
		doc.SupportNumber = ptr(c.ServiceNumber)
		r.support = c.ServiceNumber
	} else {
		doc.CallType, r.kind = "Voice Outbound", "OutboundCall"
		doc.OutboundNumber = ptr(c.ServiceNumber)
	}
	if c.Customer != "" {
		doc.EndUser = &endUserDoc{ID: endUserID(c.Customer), Identifier: c.Customer}
		r.endUser = strconv.FormatInt(doc.EndUser.ID, 10)
	}
	if c.Recorded {
		doc.RecordingURL = ptr(fmt.Sprintf("https://storage.ccai.example/recordings/%d.mp3", seq))
		doc.RecordingPermission = "recording_permission_granted"
	}

	updated := c.StartedAt
	seen := func(ts ...time.Time) {
		for _, t := range ts {
			if !t.IsZero() && !t.After(now) && t.After(updated) {
				updated = t
			}
		}
	}
	seen(c.IVRAt, c.IVRLeftAt, c.AnsweredAt, c.EndedAt)

	// IVR (the root menu) and the queues (its leaves).
	if ivr, ok := d.ivrs[c.IVRID]; ok && !c.IVRLeftAt.IsZero() {
		ev := "finished"
		if c.Digit == "" {
			ev = "abandoned"
		}
		doc.ConsumerInMenuDurations = append(doc.ConsumerInMenuDurations, menuDuration{
			ID: seq*100 + 90, Event: ev, Duration: int(c.IVRLeftAt.Sub(c.IVRAt) / time.Second),
			MenuPathID: digits(ivr.ID), MenuPath: ivr.Name, Lang: "en",
			StartedAt: stampOf(c.IVRAt), EndedAt: stampOf(c.IVRLeftAt),
		})
	}
	queueing := false
	for i, s := range c.Segments {
		seen(s.EnteredAt, s.LeftAt)
		if i == 0 {
			doc.QueuedAt, r.queued = optStamp(s.EnteredAt), ptr(s.EnteredAt)
		}
		q := d.queues[s.QueueID]
		mp := d.menuPath(s.QueueID, viaIVR)
		doc.SelectedMenu = &menuDoc{ID: digits(q.ID) + 100, Name: q.Name, ParentID: digits(q.IVRID), Position: int(digits(q.Digit)), MenuType: "ivr_menu"}
		doc.MenuPath = mp
		if s.LeftAt.IsZero() {
			queueing = true
			continue
		}
		wait := int(s.LeftAt.Sub(s.EnteredAt) / time.Second)
		doc.QueueDuration += wait
		row := queueRow{
			ID: seq*100 + 30 + int64(i), QueueDuration: wait, MenuPathID: digits(q.ID) + 100, MenuPath: mp.MaterializedPath,
			Lang: "en", StartedAt: stampOf(s.EnteredAt), EndedAt: stampOf(s.LeftAt),
			ServiceLevelAbandonTimeThreshold: d.shortAbandon, ServiceLevelEvent: "excluded",
			ServiceLevelTargetPercent: 80, ServiceLevelTargetTime: q.SLASeconds, Event: segmentEvent(s),
		}
		if i > 0 {
			row.Transfer = 1
		}
		if s.Answered {
			row.AgentID = ptr(digits(s.AgentID))
			row.ServiceLevelEvent = "not_in_sla"
			if wait <= q.SLASeconds {
				row.ServiceLevelEvent = "in_sla"
			}
		}
		doc.QueueDurations = append(doc.QueueDurations, row)
	}
	doc.WaitDuration = doc.QueueDuration

	// Transfers: a leg that transferred out hands over to the next leg transferred in.
	transferTo := map[int]int64{} // receiving leg → transfer id
	coldTo := map[int]bool{}
	for i, l := range c.Legs {
		if !l.TransferredOut {
			continue
		}
		t := transferDoc{ID: seq*100 + 50 + int64(i), Status: "finished", FailReason: "nothing", CreatedAt: stampOf(l.EndedAt),
			FromAgent: d.agent(l.AgentID), FromMenu: d.menuPath(l.QueueID, viaIVR)}
		for j := i + 1; j < len(c.Legs); j++ {
			if c.Legs[j].TransferredIn {
				if _, taken := transferTo[j]; !taken {
					transferTo[j], coldTo[j] = t.ID, l.TransferType == "blind"
					t.ToAgent, t.ToMenu = d.agent(c.Legs[j].AgentID), d.menuPath(c.Legs[j].QueueID, viaIVR)
					break
				}
			}
		}
		doc.Transfers = append(doc.Transfers, t)
	}

	// Legs: every offer is a participant; an answered leg that has ended is a handle row.
	if doc.EndUser != nil {
		p := participant{ID: seq*100 + 70, Type: "end_user", Status: "connected", CallID: seq, EndUserID: ptr(doc.EndUser.ID),
			ConnectedAt: optStamp(c.StartedAt), EndedAt: optStamp(c.EndedAt), FailReason: "nothing"}
		if !c.EndedAt.IsZero() {
			p.Status = "finished"
		}
		doc.Participants = append(doc.Participants, p)
	}
	for i, l := range c.Legs {
		seen(l.OfferedAt, l.AnsweredAt, l.EndedAt)
		if !l.EndedAt.IsZero() {
			seen(l.EndedAt.Add(time.Duration(l.WrapUpSeconds) * time.Second))
		}
		aid := digits(l.AgentID)
		r.agents = append(r.agents, strconv.FormatInt(aid, 10))
		if doc.AssignedAt == nil {
			doc.AssignedAt = optStamp(l.OfferedAt)
		}
		p := participant{ID: seq*100 + 71 + int64(i), Type: "agent", CallID: seq, UserID: ptr(aid),
			ConnectedAt: optStamp(l.AnsweredAt), EndedAt: optStamp(l.EndedAt), FailReason: "nothing"}
		switch {
		case l.Answered && !l.EndedAt.IsZero():
			p.Status, p.CallDuration, p.HoldDuration = "finished", ptr(l.TalkSeconds+l.HoldSeconds), ptr(l.HoldSeconds)
		case l.Answered:
			p.Status = "connected"
		case l.EndedAt.IsZero():
			p.Status = "connecting"
		default:
			p.Status, p.FailReason = "failed", legFailReason(l.EndReason)
		}
		doc.Participants = append(doc.Participants, p)
		if !l.Answered || l.EndedAt.IsZero() {
			continue
		}
		doc.CallDuration += l.TalkSeconds + l.HoldSeconds
		h := handleRow{
			ID: seq*100 + 10 + int64(i), AgentID: aid, AcwDuration: l.WrapUpSeconds, CallDuration: l.TalkSeconds + l.HoldSeconds,
			AssignedConnectionDuration: l.RingSeconds, HoldDuration: l.HoldSeconds, Lang: "en",
			StartedAt: stampOf(l.AnsweredAt), EndedAt: stampOf(l.EndedAt), Event: "call_finished",
		}
		if l.TransferredOut {
			h.Event = "call_transferred"
		}
		if mp := d.menuPath(l.QueueID, viaIVR); mp != nil {
			h.MenuPathID, h.MenuPath = ptr(digits(l.QueueID)+100), &mp.MaterializedPath
		}
		if l.TransferredIn {
			h.Transfer = 1
			if id, ok := transferTo[i]; ok {
				h.TransferID = &id
				if coldTo[i] {
					h.TransferCold = 1
				}
			} else if l.TransferType == "blind" {
				h.TransferCold = 1
			}
		}
		doc.HandleDurations = append(doc.HandleDurations, h)
		if inbound && c.Transfers == 0 && i == len(c.Legs)-1 && !c.EndedAt.IsZero() {
			codes := [...]string{"Product question", "Billing", "Requires follow up"}
			doc.Dispositions = append(doc.Dispositions, disposition{UserID: aid, ParticipantID: p.ID, Code: codes[seq%3]})
		}
	}
	doc.HoldDuration = c.HoldSeconds
	for _, l := range c.Legs {
		if l.Answered {
			doc.AgentInfo = d.agent(l.AgentID)
			break
		}
	}
	if doc.AgentInfo == nil && len(c.Legs) > 0 {
		doc.AgentInfo = d.agent(c.Legs[len(c.Legs)-1].AgentID)
	}
	if inbound && len(c.Legs) > 0 {
		doc.OfferType = ptr("cascade")
	}
	d.status(doc, c, queueing)
	doc.UpdatedAt, r.updated = stampOf(updated), updated
	return r
}

// status sets status, fail reason and deflection from the simcc outcome.
func (d *directory) status(doc *callDoc, c simcc.Call, queueing bool) {
	switch c.Outcome {
	case simcc.OutcomeInProgress:
		switch {
		case c.IVRID != "" && c.IVRLeftAt.IsZero():
			doc.Status = "selecting"
		case queueing:
			doc.Status = "queued"
		case !c.AnsweredAt.IsZero():
			doc.Status = "connected"
		default:
			doc.Status = "connecting"
		}
		return
	case simcc.OutcomeAnswered:
		doc.Status = "finished"
	case simcc.OutcomeAbandoned:
		doc.Status, doc.FailReason = "failed", "eu_abandoned"
		if len(c.Segments) == 0 {
			doc.FailReason = "eu_in_menu_abandoned"
		}
	case simcc.OutcomeMissed:
		doc.Status = "failed"
		switch c.EndReason {
		case "busy":
			doc.FailReason = "eu_busy"
		case "no_answer":
			doc.FailReason = "eu_no_answer"
		default: // inbound: offered to agents, none took it before the caller left
			doc.FailReason = "ag_ignored"
		}
	case simcc.OutcomeVoicemail:
		doc.Status, doc.Deflection, doc.VoicemailReason = "voicemail_received", "voicemail", "queue_timeout"
	case simcc.OutcomeCallback:
		doc.Status, doc.Deflection = "scheduled", "callback"
	case simcc.OutcomeFailed:
		doc.Status, doc.FailReason = "failed", "voip_conn_general"
	default:
		doc.Status = "finished"
	}
	if code, msg := adapterFail(doc.FailReason); code != 0 {
		doc.AdapterFailCode, doc.AdapterFailMessage = &code, &msg
	}
	switch c.EndReason {
	case "customer_hangup", "abandon":
		doc.DisconnectedBy = "disconnected_by_end_user"
	case "agent_hangup":
		doc.DisconnectedBy = "disconnected_by_agent"
	default:
		doc.DisconnectedBy = "disconnected_by_system"
	}
}

func adapterFail(reason string) (int, string) {
	switch reason {
	case "eu_abandoned":
		return 20003, "This call was abandoned by the customer."
	case "eu_in_menu_abandoned":
		return 20004, "This call was abandoned by the customer during menu selection."
	case "eu_busy":
		return 21001, "The call couldn't be connected; the customer's line is busy."
	case "eu_no_answer":
		return 21003, "This call was was not answered by the customer."
	case "voip_conn_general":
		return 41001, "An unexpected error occurred with the call connection."
	}
	return 0, ""
}

func segmentEvent(s simcc.QueueSegment) string {
	switch s.Reason {
	case "answered":
		return "answered"
	case "abandon":
		return "abandoned"
	case "timeout":
		return "expired"
	case "callback":
		return "callback_requested"
	case "transfer":
		return "transferred"
	}
	return s.Reason
}

func legFailReason(endReason string) string {
	switch endReason {
	case "no_answer":
		return "ag_ignored"
	case "answered_elsewhere":
		return "ag_canceled"
	case "abandon":
		return "eu_abandoned"
	case "queue_timeout":
		return "expired"
	case "callback_requested":
		return "eu_canceled"
	case "busy":
		return "eu_busy"
	case "failed":
		return "voip_conn_general"
	}
	return "unknown"
}

// endUserID is a stable number for a customer: the digits of the phone number.
func endUserID(number string) int64 {
	var n int64
	for _, r := range number {
		if r >= '0' && r <= '9' {
			n = (n*10 + int64(r-'0')) % 1_000_000_000
		}
	}
	return n
}
