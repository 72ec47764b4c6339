package server

import (
	"crypto/subtle"
	"io"
	"net"
	"net/http"
	"runtime"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/resolvers"
	"github.com/switchboard-cc/switchboard/upstreams"
)

type sourceStatus struct {
	Tenant string `json:"tenant"`
	ID     string `json:"id"`
	Vendor string `json:"vendor"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

type streamStatus struct {
	Tenant      string `json:"tenant"`
	Source      string `json:"source"`
	Topic       string `json:"topic"`
	Subscribers int    `json:"subscribers"`
	// Subscriptions counts the hub's subscriptions: identical subscriptions share one.
	Subscriptions int    `json:"subscriptions"`
	Connects      int    `json:"upstreamConnects"`
	Status        string `json:"status"`
	Reason        string `json:"reason,omitempty"`
	// Owned is whether this replica holds the upstream connection (always, without NATS).
	Owned bool `json:"owned"`
}

// readyz reports every source's health and every live stream. The gateway is ready when it
// serves; a vendor being down degrades its sources, it does not take the replica out. The
// per-tenant detail names tenants and sources, so only loopback callers (the operator on the
// host, a sidecar) or a configured ops token get it; others see the overall status.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	res := s.opts.Resolver
	out := struct {
		Status     string         `json:"status"`
		Goroutines int            `json:"goroutines"`
		Sources    []sourceStatus `json:"sources"`
		Streams    []streamStatus `json:"streams"`
	}{Status: "ok", Goroutines: runtime.NumGoroutine(), Sources: []sourceStatus{}, Streams: []streamStatus{}}
	for _, src := range res.Tenants.All() {
		h := res.SourceHealth(src)
		st := sourceStatus{Tenant: src.Spec.Tenant, ID: src.Spec.ID, Vendor: src.Spec.Vendor, Status: string(h.Status)}
		if h.Reason != nil {
			st.Reason = *h.Reason
		}
		if st.Status == "DOWN" || st.Status == "DEGRADED" {
			out.Status = "degraded"
		}
		out.Sources = append(out.Sources, st)
	}
	if !s.opsDetail(r) {
		writeJSON(w, http.StatusOK, map[string]string{"status": out.Status})
		return
	}
	if res.Hub != nil {
		for _, st := range res.Hub.Streams() {
			out.Streams = append(out.Streams, streamStatus{
				Tenant: st.Key.Tenant, Source: st.Key.Source, Topic: string(st.Key.Topic),
				Subscribers: st.Subscribers, Subscriptions: st.Subscriptions, Connects: st.Connects, Status: string(st.Status), Reason: st.Reason, Owned: st.Owned,
			})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// maxWebhookBytes caps a pushed document.
const maxWebhookBytes = 1 << 20

// webhook hands a push to the driver of exactly the tenant and source in the path. Unknown
// routes get one answer, so probing does not reveal which tenants exist.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	vendor, tenant, source := r.PathValue("vendor"), r.PathValue("tenant"), r.PathValue("source")
	notFound := func() { writeError(w, r, http.StatusNotFound, resolvers.CodeNotFound, "no such webhook route") }
	t, ok := s.opts.Resolver.Tenants.Get(tenant)
	if !ok {
		notFound()
		return
	}
	src, ok := t.Source(source)
	if !ok || src.Spec.Vendor != vendor {
		notFound()
		return
	}
	recv, ok := src.Driver.(upstreams.WebhookReceiver)
	if !ok {
		notFound()
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxWebhookBytes)
	recv.Webhook().ServeHTTP(w, r)
}

// recording streams a call's recording for a caller holding pii:read, fetched with the
// source's own credentials; vendor headers and URLs are never passed on.
func (s *Server) recording(w http.ResponseWriter, r *http.Request) {
	body, contentType, err := s.opts.Resolver.OpenRecording(r.Context(), r.PathValue("id"))
	if err != nil {
		code, msg := resolvers.ErrorCode(err)
		status := http.StatusBadGateway
		switch code {
		case resolvers.CodeForbidden:
			status = http.StatusForbidden
		case resolvers.CodeNotFound, resolvers.CodeNotSupported:
			status = http.StatusNotFound
		case resolvers.CodeBadInput:
			status = http.StatusBadRequest
		case resolvers.CodeUnauthenticated:
			status = http.StatusUnauthorized
		}
		writeError(w, r, status, code, msg)
		return
	}
	defer body.Close()
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "private, no-store")
	_, _ = io.Copy(w, body)
}

// opsDetail reports whether r may see per-tenant operational detail.
func (s *Server) opsDetail(r *http.Request) bool {
	if tok := s.opts.OpsToken; tok != "" {
		got, ok := auth.BearerToken(r.Header.Get("Authorization"))
		return ok && subtle.ConstantTimeCompare([]byte(got), []byte(tok)) == 1
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
