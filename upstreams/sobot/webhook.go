package sobot

import (
	"container/list"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cc/switchboard/graph/model"
)

// webhook receives Sobot pushes for one source.
type webhook struct {
	d      *Driver
	window time.Duration
	replay *replayCache
}

func newWebhook(d *Driver) *webhook {
	return &webhook{d: d, window: d.cfg.WebhookWindow.Or(5 * time.Minute), replay: newReplayCache(d.cfg.ReplayCacheSize)}
}

// Webhook is the handler for POST /webhooks/sobot/<tenant>/<source>.
func (d *Driver) Webhook() http.Handler { return d.hook }

// Push kinds, told apart by their fields (Sobot posts them all to the callback URL).
const (
	pushMainCDR   = "main talk list"
	pushPartyCDR  = "sub talk list"
	pushStatus    = "agent status"
	pushCallEvent = "call event"
)

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, msg := h.serve(w, r)
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	code := status
	if status == http.StatusOK {
		code = 200
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg})
}

func (h *webhook) serve(w http.ResponseWriter, r *http.Request) (int, string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return http.StatusMethodNotAllowed, "POST only"
	}
	if h.d.appKey == "" || h.d.cfg.CompanyID == "" {
		return http.StatusServiceUnavailable, "webhooks need the source's appKey secret and companyId option"
	}
	ts, rc, sig := r.Header.Get("X-Log-TimeStamp"), r.Header.Get("X-Log-RandomCode"), r.Header.Get("X-Log-Sign")
	if ts == "" || rc == "" || sig == "" {
		return http.StatusUnauthorized, "missing X-Log-TimeStamp, X-Log-RandomCode or X-Log-Sign"
	}
	want := md5.Sum([]byte(h.d.cfg.CompanyID + ts + rc + h.d.appKey))
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil || subtle.ConstantTimeCompare(got, want[:]) != 1 {
		h.d.log.Warn("webhook push with a bad signature refused")
		return http.StatusUnauthorized, "bad X-Log-Sign"
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	if err != nil {
		return http.StatusUnauthorized, "X-Log-TimeStamp is not epoch milliseconds"
	}
	now := h.d.now()
	sent := time.UnixMilli(ms)
	if d := now.Sub(sent); d > h.window || d < -h.window {
		return http.StatusUnauthorized, "stale X-Log-TimeStamp"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.d.cfg.WebhookMaxBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", h.d.cfg.WebhookMaxBytes)
		}
		return http.StatusBadRequest, "reading body"
	}
	// Only now is the random code spent, so a push cut short can be sent again.
	if !h.replay.add(rc, now.Add(h.window), now) {
		return http.StatusConflict, "replayed X-Log-RandomCode"
	}
	if err := h.d.push(body, sent); err != nil {
		var pe *pushError
		if errors.As(err, &pe) {
			return pe.status, pe.msg
		}
		h.d.log.Warn("webhook push not applied", "err", err)
		return http.StatusUnprocessableEntity, err.Error()
	}
	return http.StatusOK, "success"
}

type pushError struct {
	status int
	msg    string
}

func (e *pushError) Error() string { return e.msg }

// push classifies and applies one authenticated push body.
func (d *Driver) push(body []byte, sent time.Time) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return &pushError{http.StatusBadRequest, "body is not a JSON object"}
	}
	if _, ok := probe["content"]; ok && len(probe) == 1 {
		return &pushError{http.StatusUnsupportedMediaType,
			"encrypted push (content) refused: Sobot does not document its cipher; turn off push encryption for this callback"}
	}
	str := func(k string) string {
		var s flexString
		_ = json.Unmarshal(probe[k], &s)
		return string(s)
	}
	switch {
	case str("msgType") == "agent_working_status_changed_successfully" || str("messageID") == "AgentHistoryLogES":
		return d.pushStatus(body)
	case strings.HasPrefix(str("messageID"), "Event") || strings.HasPrefix(str("MessageID"), "Event") || strings.HasPrefix(str("eventName"), "Event"):
		return d.pushCallEvent(body, sent)
	case str("partyId") != "":
		return d.pushParty(body)
	case str("callID") != "":
		return d.pushMain(body)
	}
	return &pushError{http.StatusUnprocessableEntity, "unknown push: no callID, partyId, msgType or event name"}
}

const opPush = "receiving webhook push"

func (d *Driver) pushMain(body []byte) error {
	c, err := d.m.mapCall(body)
	if err != nil {
		return d.mapErr(opPush, pushMainCDR+".", err)
	}
	l := d.live
	l.mu.Lock()
	defer l.mu.Unlock()
	if held, ok := l.calls[c.VendorID]; ok && !c.LegsLoaded && len(held.Legs) > 0 {
		c.Legs = held.Legs
	}
	l.emitCall(c)
	return nil
}

func (d *Driver) pushParty(body []byte) error {
	leg, err := d.m.mapLeg(body)
	if err != nil {
		return d.mapErr(opPush, pushPartyCDR+".", err)
	}
	var p partyCDR
	_ = json.Unmarshal(body, &p)
	if p.CallID == "" {
		return d.spec.FieldError(opPush, pushPartyCDR+".callID", errors.New("missing"))
	}
	l := d.live
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls[string(p.CallID)]
	if c == nil {
		start := leg.OfferedAt
		if start == nil {
			start = model.Ptr(d.now().UTC())
		}
		c = d.stubCall(string(p.CallID), p.CallType, *start, body)
	} else {
		c = copyCall(c)
	}
	replaced := false
	for i, l := range c.Legs {
		if l.ID == leg.ID {
			c.Legs[i], replaced = leg, true
		}
	}
	if !replaced {
		c.Legs = append(c.Legs, leg)
	}
	if leg.Agent != nil {
		addRef(&c.Agents, leg.Agent)
	}
	l.emitCall(c)
	return nil
}

// stubCall is a call known only from a push that is not its main talk list.
func (d *Driver) stubCall(id string, callType flexInt, start time.Time, raw []byte) *model.Call {
	return &model.Call{
		ID: model.GlobalID(model.KindCall, d.spec.ID, id), VendorID: id, SourceID: d.spec.ID, Vendor: d.spec.Vendor,
		Direction: direction(callType), Channel: model.ChannelVoice, Outcome: model.OutcomeInProgress,
		StartedAt: start, Durations: &model.CallDurations{},
		Agents: []*model.Ref{}, Queues: []*model.Ref{}, Ivrs: []*model.Ref{}, Raw: raw,
	}
}

// copyCall copies what pushes change so values already handed to sinks stay unchanged.
func copyCall(c *model.Call) *model.Call {
	cp := *c
	cp.Legs = append([]*model.CallLeg(nil), c.Legs...)
	cp.Agents = append([]*model.Ref(nil), c.Agents...)
	return &cp
}

func addRef(refs *[]*model.Ref, r *model.Ref) {
	for _, x := range *refs {
		if (x.VendorID != nil && r.VendorID != nil && *x.VendorID == *r.VendorID) ||
			(x.VendorID == nil && r.VendorID == nil && x.Name != nil && r.Name != nil && *x.Name == *r.Name) {
			return
		}
	}
	*refs = append(*refs, r)
}

func (d *Driver) pushStatus(body []byte) error {
	var s statusCallback
	if err := decodeDoc(body, &s); err != nil {
		return d.mapErr(opPush, pushStatus+".", err)
	}
	id := string(firstNonEmpty(s.AgentUUID, s.AgentID))
	if id == "" {
		return d.spec.FieldError(opPush, pushStatus+".agentUUID", errors.New("missing (and no agentID)"))
	}
	return d.live.applyStatus(opPush, id, mapStatusCallback(&s))
}

// pushCallEvent applies a call event. The events' body is not documented; see README for
// the fields read. The talk list pushed at the end carries the authoritative record.
func (d *Driver) pushCallEvent(body []byte, sent time.Time) error {
	var e callEvent
	if err := decodeDoc(body, &e); err != nil {
		return d.mapErr(opPush, pushCallEvent+".", err)
	}
	name := e.name()
	switch name {
	case "EventPartyError", "EventAgentError", "EventDtmfSent":
		return nil
	}
	if e.CallID == "" {
		return d.spec.FieldError(opPush, pushCallEvent+".callID", errors.New("missing"))
	}
	at := sent.UTC()
	if t := msTime(e.CreationTime); t != nil {
		at = *t
	} else if t := msTime(e.Timestamp); t != nil {
		at = *t
	}
	l := d.live
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls[string(e.CallID)]
	if c == nil {
		ct := e.CallType
		if !ct.Set && name == "EventRinging" {
			ct = flexInt{V: 2, Set: true}
		} else if !ct.Set && name == "EventDialing" {
			ct = flexInt{V: 3, Set: true}
		}
		c = d.stubCall(string(e.CallID), ct, at, body)
	} else {
		c = copyCall(c)
		c.Raw = body
	}
	if e.CustomerNumber != "" && c.Customer == nil {
		c.Customer = &model.Customer{Number: model.Ptr(string(e.CustomerNumber))}
	}
	if e.GatewayNumber != "" && c.ServiceNumber == nil {
		c.ServiceNumber = model.Ptr(string(e.GatewayNumber))
	}
	if e.AgentUUID != "" || e.AgentName != "" {
		addRef(&c.Agents, model.NewRef(model.KindAgent, d.spec.ID, string(e.AgentUUID), string(e.AgentName)))
	}
	c.VendorStatus = model.Ptr(name)
	switch name {
	case "EventEstablished":
		if c.AnsweredAt == nil {
			c.AnsweredAt = &at
		}
	case "EventReleased", "EventCallDeleted":
		c.EndedAt = &at
		switch {
		case c.AnsweredAt != nil:
			c.Outcome = model.OutcomeAnswered
		case c.Direction == model.DirectionOutbound:
			c.Outcome = model.OutcomeFailed
		default:
			c.Outcome = model.OutcomeAbandoned
		}
	}
	l.emitCall(c)
	return nil
}

// replayCache remembers random codes until their timestamp window closes. It is bounded:
// when full, the oldest code is forgotten (and logged by no one: a code that old is near
// the end of its window anyway).
type replayCache struct {
	mu    sync.Mutex
	max   int
	seen  map[string]*list.Element
	order *list.List // of replayEntry, oldest first
}

type replayEntry struct {
	code   string
	expiry time.Time
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: map[string]*list.Element{}, order: list.New()}
}

// add records code; false when it is already held.
func (c *replayCache) add(code string, expiry, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.order.Front(); e != nil; e = c.order.Front() {
		if ent := e.Value.(replayEntry); ent.expiry.Before(now) || c.order.Len() >= c.max {
			delete(c.seen, ent.code)
			c.order.Remove(e)
			continue
		}
		break
	}
	if _, ok := c.seen[code]; ok {
		return false
	}
	c.seen[code] = c.order.PushBack(replayEntry{code: code, expiry: expiry})
	return true
}
