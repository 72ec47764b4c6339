// Command minproxy is the load benchmark's near-the-limit reference: a hand-written proxy
// that answers the benchmark's one GraphQL query, calls(first: N), by calling the Sobot
// simulator's calls search directly and writing the same JSON shape Switchboard answers.
// It checks the bearer token's HS256 signature and expiry and nothing else of the request:
// no GraphQL parsing (it only reads `first`), no tenancy, no limits, no schema.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard-cc/switchboard/auth"
	"github.com/switchboard-cc/switchboard/graph/model"
)

const callsPath = "/callservice/tm/tm-reports/maincdrs/_search"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "minproxy:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:18083", "listen address (loopback)")
	upstream := flag.String("upstream", "http://127.0.0.1:18081", "Sobot simulator URL")
	tokenFile := flag.String("upstream-token-file", "", "file holding the Sobot company token")
	secretEnv := flag.String("hs-secret-env", "SWITCHBOARD_HS_SECRET", "environment variable holding the clients' HS256 key")
	sourceID := flag.String("source", "sobot", "source id used in global ids")
	flag.Parse()
	tok, err := os.ReadFile(*tokenFile)
	if err != nil {
		return fmt.Errorf("reading upstream token: %w", err)
	}
	secret := os.Getenv(*secretEnv)
	if secret == "" {
		return fmt.Errorf("%s is not set", *secretEnv)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	p := &proxy{
		client: &http.Client{Transport: t, Timeout: 10 * time.Second}, url: strings.TrimRight(*upstream, "/") + callsPath,
		token: "Bearer " + strings.TrimSpace(string(tok)), secret: []byte(secret), source: *sourceID, now: time.Now,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /graphql", p)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Printf("minproxy serving on http://%s/graphql\n", ln.Addr())
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := hs.Shutdown(sctx); serr != nil {
		return serr
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type proxy struct {
	client *http.Client
	url    string
	token  string
	secret []byte
	source string
	now    func() time.Time
}

var firstArg = regexp.MustCompile(`first\s*:\s*(\d+)`)

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.authorized(r.Header.Get("Authorization")) {
		gqlError(w, http.StatusUnauthorized, "unauthenticated")
		return
	}
	var req struct {
		Query string `json:"query"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		gqlError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	first := 20
	if m := firstArg.FindStringSubmatch(req.Query); m != nil {
		first, _ = strconv.Atoi(m[1])
	}
	first = max(1, min(first, 100))
	now := p.now()
	body, _ := json.Marshal(map[string]any{
		"startTime": now.Add(-24 * time.Hour).UnixMilli(), "endTime": now.UnixMilli(),
		"pageNum": 1, "pageSize": first, "hideNumber": 2,
	})
	up, err := http.NewRequestWithContext(r.Context(), http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		gqlError(w, http.StatusInternalServerError, err.Error())
		return
	}
	up.Header.Set("Authorization", p.token)
	up.Header.Set("Content-Type", "application/json")
	up.Header.Set("timezoneid", "UTC")
	resp, err := p.client.Do(up)
	if err != nil {
		gqlError(w, http.StatusBadGateway, "calling upstream: "+err.Error())
		return
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != http.StatusOK || env.Code != 200 {
		gqlError(w, http.StatusBadGateway, fmt.Sprintf("upstream: HTTP %d code %d", resp.StatusCode, env.Code))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"calls": p.connection(env.Data, first)}})
}

// authorized checks an HS256 JWT's signature and expiry.
func (p *proxy) authorized(h string) bool {
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return false
	}
	dot := strings.LastIndexByte(tok, '.')
	if dot < 0 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	mac := hmac.New(sha256.New, p.secret)
	mac.Write([]byte(tok[:dot]))
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return false
	}
	_, payload, _ := strings.Cut(tok[:dot], ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	var claims struct {
		Exp int64 `json:"exp"`
	}
	return err == nil && json.Unmarshal(b, &claims) == nil && p.now().Unix() < claims.Exp
}

type envelope struct {
	Code int `json:"code"`
	Data struct {
		Total int      `json:"total"`
		List  []cdrDoc `json:"list"`
	} `json:"data"`
}

type cdrDoc struct {
	CallID         string      `json:"callID"`
	CallType       int         `json:"callType"`
	CallResult     *int        `json:"callResult"`
	StartTime      int64       `json:"startTime"`
	BridgeTime     int64       `json:"bridgeTime"`
	EndTime        int64       `json:"endTime"`
	CustomerNumber string      `json:"customerNumber"`
	TotalDuration  json.Number `json:"totalDuration"`
	Duration       json.Number `json:"duration"`
	FirstCallAgent string      `json:"firstCallAgentName"`
	FirstAgentName string      `json:"firstAgentName"`
	LastAgentName  string      `json:"lastAgentName"`
	FirstRouteName string      `json:"firstRouteName"`
	BelongAgent    string      `json:"belongAgentName"`
}

type named struct {
	Name string `json:"name"`
}

func (p *proxy) connection(d struct {
	Total int      `json:"total"`
	List  []cdrDoc `json:"list"`
}, first int) map[string]any {
	edges := make([]map[string]any, 0, len(d.List))
	for i, c := range d.List {
		id := strings.TrimSpace(c.CallID)
		dir := map[int]string{1: "INTERNAL", 2: "INBOUND", 3: "OUTBOUND"}[c.CallType]
		if dir == "" {
			dir = "UNKNOWN"
		}
		agents := []named{}
		for _, n := range []string{c.FirstCallAgent, c.FirstAgentName, c.LastAgentName, c.BelongAgent} {
			if n != "" && !slices.Contains(agents, named{n}) {
				agents = append(agents, named{n})
			}
		}
		queues := []named{}
		if c.FirstRouteName != "" {
			queues = append(queues, named{c.FirstRouteName})
		}
		var customer any
		if c.CustomerNumber != "" {
			customer = map[string]string{"number": auth.MaskPII(c.CustomerNumber)}
		}
		edges = append(edges, map[string]any{
			"cursor": strconv.Itoa(i + 1),
			"node": map[string]any{
				"id": model.GlobalID("Call", p.source, id), "direction": dir, "outcome": outcome(c, dir),
				"startedAt": stamp(c.StartTime), "answeredAt": stamp(c.BridgeTime), "endedAt": stamp(c.EndTime),
				"customer":  customer,
				"durations": map[string]any{"totalSeconds": seconds(c.TotalDuration), "talkSeconds": seconds(c.Duration)},
				"agents":    agents, "queues": queues,
			},
		})
	}
	var end any
	if len(edges) > 0 {
		end = edges[len(edges)-1]["cursor"]
	}
	return map[string]any{
		"totalCount": d.Total, "edges": edges,
		"pageInfo": map[string]any{"hasNextPage": len(d.List) == first && d.Total > first, "endCursor": end},
	}
}

// outcome follows the Sobot driver's table (upstreams/sobot/README.md).
func outcome(c cdrDoc, dir string) string {
	if c.EndTime == 0 {
		return "IN_PROGRESS"
	}
	if c.CallResult == nil {
		return "FAILED"
	}
	switch *c.CallResult {
	case 8, 21:
		return "ANSWERED"
	case 5:
		return "ABANDONED"
	case 7:
		if dir == "INBOUND" {
			return "ABANDONED"
		}
		return "FAILED"
	case 4, 6, 22:
		return "MISSED"
	case 1, 2, 3, 9:
		return "FAILED"
	}
	if c.BridgeTime != 0 {
		return "ANSWERED"
	}
	return "FAILED"
}

func stamp(ms int64) any {
	if ms == 0 {
		return nil
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

func seconds(n json.Number) any {
	v, err := n.Int64()
	if err != nil {
		return nil
	}
	return v
}

func gqlError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"message": msg}}})
}
