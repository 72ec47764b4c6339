package sim

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams/simcc"
)

// SignPush is X-Log-Sign: MD5(companyId + timestamp + randomCode + appKey), lowercase hex.
func SignPush(companyID, timestamp, randomCode, appKey string) string {
	sum := md5.Sum([]byte(companyID + timestamp + randomCode + appKey))
	return hex.EncodeToString(sum[:])
}

// StartPusher posts the center's events to webhookURL as Sobot pushes, signed with
// companyID and appKey: call events as they happen, the sub talk lists and then the main
// talk list when a call ends, and agent status callbacks. It runs until ctx is done or the
// server is closed (Close waits for it).
func (s *Server) StartPusher(ctx context.Context, webhookURL, companyID, appKey string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	events := s.center.Subscribe(ctx, 4096)
	tr := &http.Transport{}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	go func() {
		defer s.wg.Done()
		defer cancel()
		defer tr.CloseIdleConnections()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.done:
				return
			case ev, open := <-events:
				if !open {
					return
				}
				for _, body := range s.pushBodies(ev) {
					s.post(ctx, hc, webhookURL, companyID, appKey, body)
				}
			}
		}
	}()
}

// pushBodies renders the pushes one center event causes.
func (s *Server) pushBodies(ev simcc.Event) []any {
	agents := s.agentByID()
	switch ev.Type {
	case simcc.EventCallStarted, simcc.EventCallAnswered, simcc.EventCallTransferred:
		c, found := s.center.Call(ev.CallID)
		if !found {
			return nil
		}
		name := map[simcc.EventType]string{simcc.EventCallStarted: "EventRinging", simcc.EventCallAnswered: "EventEstablished", simcc.EventCallTransferred: "EventPartyChanged"}[ev.Type]
		if ev.Type == simcc.EventCallStarted && c.Direction != simcc.DirectionInbound {
			name = "EventDialing"
		}
		body := map[string]any{"messageID": name, "companyId": pad(s.cfg.CompanyID), "callID": pad(c.ID), "callType": callType(c.Direction),
			"customerNumber": c.Customer, "gatewayNumber": c.ServiceNumber, "creationTime": ev.At.UnixMilli()}
		if a, ok := agents[ev.AgentID]; ok {
			body["agentUUID"], body["agentName"] = pad(a.ID), a.Name
		}
		return []any{body}
	case simcc.EventCallEnded:
		c, found := s.center.Call(ev.CallID)
		if !found {
			return nil
		}
		var out []any
		for _, p := range s.partyCDRs(c, agents) {
			out = append(out, p)
		}
		return append(out, s.mainCDR(c, "record.sim.invalid", 2, agents))
	case simcc.EventAgentState:
		a := agents[ev.AgentID]
		login, work, busy := statusCodes(ev.State, ev.Reason)
		body := map[string]any{
			"companyId": pad(s.cfg.CompanyID), "messageID": "AgentHistoryLogES", "msgType": "agent_working_status_changed_successfully",
			"creationTime": ev.At.UnixMilli(), "agentUUID": pad(a.ID), "agentID": a.Extension, "agentName": a.Name,
			"loginStatus": login, "notReadyStatus": busy, "workStatus": work, "startTime": ev.At.UnixMilli(), "callID": ev.CallID,
		}
		if ev.State == simcc.StateOffline {
			delete(body, "workStatus")
		}
		return []any{body}
	}
	return nil
}

func (s *Server) post(ctx context.Context, hc *http.Client, webhookURL, companyID, appKey string, body any) {
	b, _ := json.Marshal(body)
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	ts, rc := strconv.FormatInt(s.center.Now().UnixMilli(), 10), hex.EncodeToString(rnd[:])
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(b))
	if err != nil {
		s.countPush(false)
		return
	}
	req.Header.Set("Content-Type", "application/json;charset=utf-8")
	req.Header.Set("X-Log-TimeStamp", ts)
	req.Header.Set("X-Log-RandomCode", rc)
	req.Header.Set("X-Log-Sign", SignPush(companyID, ts, rc, appKey))
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() == nil { // a push cut short by stopping the pusher is no failure
			slog.Debug("sobot sim: push failed", "err", err)
			s.countPush(false)
		}
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	s.countPush(resp.StatusCode/100 == 2)
}

func (s *Server) countPush(okay bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if okay {
		s.pushSent++
	} else {
		s.pushFails++
	}
}
