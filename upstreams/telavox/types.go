package telavox

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The wire structs follow the historic GraphQL schema (camelCase). Live WebSocket documents
// are snake_case: liveToCamel renames their keys before decoding, and the few fields whose
// names differ beyond case (wait_time/wait, hold/onHold, no_reachable/notReachable) have
// both spellings here. Values go through num, ident and stamp, which accept what the vendor
// sends in either API (0/1 integers, ids as numbers or strings, epoch ms or ISO 8601).

// callDoc is a call overview record: live /calls or historic callOverview.
type callDoc struct {
	IDCall                  string         `json:"idCall"`
	CallDirection           string         `json:"callDirection"`
	Answered                num            `json:"answered"`
	Active                  num            `json:"active"`
	Internal                num            `json:"internal"`
	Voicemail               num            `json:"voicemail"` // live only: callOverview has no such field
	Recorded                num            `json:"recorded"`
	Transfers               num            `json:"transfers"`
	OfferedAndAnswered      num            `json:"offeredAndAnswered"`
	OfferedAndNotAnswered   num            `json:"offeredAndNotAnswered"`
	SimultaneousDeviceCalls num            `json:"simultaneousDeviceCalls"`
	TerminatedCallReason    string         `json:"terminatedCallReason"`
	Time                    *timeDoc       `json:"time"`
	CustomerTarget          *customerDoc   `json:"customerTarget"`
	CustomerTelavox         *accountDoc    `json:"customerTelavox"` // live only
	OnHookedCalls           *onHooked      `json:"onHookedCalls"`
	AgentList               []string       `json:"agentList"`
	AgentListAnswer         []string       `json:"agentListAnswer"`
	AgentListNoAnswer       []string       `json:"agentListNoAnswer"`
	QueueList               []string       `json:"queueList"`
	IvrList                 []string       `json:"ivrList"`
	Duration                *durationDoc   `json:"duration"`
	MenuDigit               *menuDigitDoc  `json:"menuDigit"`
	IvrFirst                *ivrDoc        `json:"ivrFirst"`
	IvrLast                 *ivrDoc        `json:"ivrLast"`
	QueueFirst              *queueDoc      `json:"queueFirst"`
	QueueLast               *queueDoc      `json:"queueLast"`
	AgentFirst              *agentDoc      `json:"agentFirst"`
	AgentLast               *agentDoc      `json:"agentLast"`
	Redirected              *redirectedDoc `json:"redirected"`
	TransferFirst           *transferDoc   `json:"transferFirst"`
	TransferLast            *transferDoc   `json:"transferLast"`
	// Historic only.
	InactiveNumber num             `json:"inactiveNumber"`
	QueuePickup    num             `json:"queuePickup"`
	TimeIvrClosed  stamp           `json:"timeIvrClosed"`
	TimeIvrTimeout stamp           `json:"timeIvrTimeout"`
	TimeIvrDigit   stamp           `json:"timeIvrDigit"`
	SaveKeyInput   []saveKeyDoc    `json:"saveKeyInput"`
	Timestamp      stamp           `json:"timestamp"`
	Raw            json.RawMessage `json:"-"`
}

// legDoc is an agent overview record (one call offered to one agent): live /agents or
// historic agentOverview.
type legDoc struct {
	IDCall                  string          `json:"idCall"`
	CallDirection           string          `json:"callDirection"`
	Answered                num             `json:"answered"`
	Active                  num             `json:"active"`
	Internal                num             `json:"internal"`
	Voicemail               num             `json:"voicemail"`
	Recorded                num             `json:"recorded"`
	Transfer                num             `json:"transfer"`
	OnHookedCalls           *onHooked       `json:"onHookedCalls"`
	SimultaneousDeviceCalls num             `json:"simultaneousDeviceCalls"`
	AgentEndReason          string          `json:"agentEndReason"`
	Time                    *timeDoc        `json:"time"`
	CustomerTarget          *customerDoc    `json:"customerTarget"`
	CustomerTelavox         *accountDoc     `json:"customerTelavox"`
	Agent                   *agentDoc       `json:"agent"`
	Ivr                     *ivrDoc         `json:"ivr"`
	Queue                   *queueDoc       `json:"queue"`
	Duration                *durationDoc    `json:"duration"`
	Raw                     json.RawMessage `json:"-"`
}

// segDoc is a queue overview record (one stay of a call in one queue): live /queues or
// historic queueOverview. Live documents name the agents agentFirst/agentLast, historic
// ones agent.
type segDoc struct {
	legDoc
	AgentFirst        *agentDoc `json:"agentFirst"`
	AgentLast         *agentDoc `json:"agentLast"`
	AgentList         []string  `json:"agentList"`
	AgentListAnswer   []string  `json:"agentListAnswer"`
	AgentListNoAnswer []string  `json:"agentListNoAnswer"`
}

type timeDoc struct {
	Start    stamp `json:"start"`
	End      stamp `json:"end"`
	Answered stamp `json:"answered"`
}

type customerDoc struct {
	Number string `json:"number"`
}

type accountDoc struct {
	ID   ident  `json:"id"`
	Name string `json:"name"`
}

type agentDoc struct {
	ID           ident       `json:"id"`
	Name         string      `json:"name"`
	Surname      string      `json:"surname"`
	Phone        string      `json:"phone"`
	Email        string      `json:"email"`
	TimeZone     string      `json:"timeZone"`
	Answered     stamp       `json:"answered"`
	ToTransfer   num         `json:"toTransfer"`
	FromTransfer num         `json:"fromTransfer"`
	Licence      *licenceDoc `json:"licence"`
}

type licenceDoc struct {
	Type  string `json:"type"`
	Ccpro num    `json:"ccpro"`
}

type queueDoc struct {
	ID         ident  `json:"id"`
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Strategy   string `json:"strategy"`
	Timestart  stamp  `json:"timestart"`
	FailReason string `json:"failReason"`
}

type ivrDoc struct {
	ID        ident  `json:"id"`
	Name      string `json:"name"`
	Phone     string `json:"phone"`
	Timestamp stamp  `json:"timestamp"`
}

// durationDoc holds every duration object of the three record kinds: in call documents
// queue/ring/talk are {first,last,total}; in agent and queue documents they are plain
// integers (detail accepts both).
type durationDoc struct {
	Total       num    `json:"total"`
	Queue       detail `json:"queue"`
	Ring        detail `json:"ring"`
	Talk        detail `json:"talk"`
	Wait        num    `json:"wait"`     // historic
	WaitTime    num    `json:"waitTime"` // live wait_time
	Hold        num    `json:"hold"`
	OnHold      num    `json:"onHold"`      // historic
	BeforeQueue num    `json:"beforeQueue"` // live before_queue
}

type menuDigitDoc struct {
	DialedNumber ident  `json:"dialedNumber"`
	Destination  string `json:"destination"`
	Type         string `json:"type"`
}

type redirectedDoc struct {
	Total         num `json:"total"`
	NoReason      num `json:"noReason"`
	NoAnswer      num `json:"noAnswer"`
	NotReachable  num `json:"notReachable"` // historic
	NoReachable   num `json:"noReachable"`  // live no_reachable
	UserBusy      num `json:"userBusy"`
	Unconditional num `json:"unconditional"`
}

type transferDoc struct {
	Type     string `json:"type"`
	Answered num    `json:"answered"`
}

type saveKeyDoc struct {
	VariableName string `json:"variableName"`
	Input        string `json:"input"`
}

// onHooked is the callback information: an object in call (and live queue) documents, a
// 0/1 integer in agent and historic queue documents (then Flag is set).
type onHooked struct {
	Flag              num `json:"-"`
	NoWaitRequest     num `json:"noWaitRequest"`
	AnswerWaitRequest num `json:"answerWaitRequest"`
	CustomerNoAnswer  num `json:"customerNoAnswer"`
}

func (o *onHooked) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		type plain onHooked
		var p plain
		if err := json.Unmarshal(b, &p); err != nil {
			return err
		}
		*o = onHooked(p)
		return nil
	}
	return o.Flag.UnmarshalJSON(b)
}

// callback reports whether the document says the customer accepted a callback.
func (o *onHooked) callback() bool {
	return o != nil && (o.Flag.V > 0 || o.AnswerWaitRequest.V > 0)
}

// detail is a duration that is {first,last,total} in call documents and an integer
// (the total) elsewhere.
type detail struct {
	First, Last, Total num
}

func (d *detail) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var p struct {
			First num `json:"first"`
			Last  num `json:"last"`
			Total num `json:"total"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return err
		}
		*d = detail{First: p.First, Last: p.Last, Total: p.Total}
		return nil
	}
	return d.Total.UnmarshalJSON(b)
}

// num is an integer the vendor may send as a number, a numeric string or a boolean; OK is
// false when the field is absent, null or "".
type num struct {
	V  int
	OK bool
}

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	switch s {
	case "null", `""`:
		*n = num{}
		return nil
	case "true":
		*n = num{V: 1, OK: true}
		return nil
	case "false":
		*n = num{V: 0, OK: true}
		return nil
	}
	s = strings.Trim(s, `"`)
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f > 1e15 || f < -1e15 {
		return typeError(b, reflect.TypeFor[int]())
	}
	*n = num{V: int(f), OK: true}
	return nil
}

func (n num) ptr() *int {
	if !n.OK {
		return nil
	}
	v := n.V
	return &v
}

func (n num) flag() *bool {
	if !n.OK {
		return nil
	}
	v := n.V != 0
	return &v
}

func (n num) isTrue() bool { return n.OK && n.V != 0 }

// ident is an id the vendor sends as a number in some documents and a string in others.
type ident string

func (i *ident) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	switch {
	case s == "null":
		*i = ""
	case strings.HasPrefix(s, `"`):
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return typeError(b, reflect.TypeFor[string]())
		}
		*i = ident(strings.TrimSpace(v))
	default:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return typeError(b, reflect.TypeFor[string]())
		}
		*i = ident(strconv.FormatFloat(f, 'f', -1, 64))
	}
	return nil
}

// stamp is an instant: epoch milliseconds (live; number or numeric string) or ISO 8601
// (historic, including the documented "2025-10-01 T10:13:35Z" with a stray space). 0, null
// and "" mean unset. Instants are truncated to whole seconds so that a live and a historic
// document of the same call map to the same canonical call.
type stamp struct {
	T  time.Time
	OK bool
}

func (t *stamp) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" || s == `""` || s == "0" || s == `"0"` {
		*t = stamp{}
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return typeError(b, reflect.TypeFor[time.Time]())
		}
		s = strings.TrimSpace(v)
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		*t = stamp{T: time.UnixMilli(ms).UTC().Truncate(time.Second), OK: ms != 0}
		return nil
	}
	v, err := parseISO(s)
	if err != nil {
		return typeError(b, reflect.TypeFor[time.Time]())
	}
	*t = stamp{T: v, OK: true}
	return nil
}

// parseISO parses ISO 8601 with a zone, tolerating spaces around the T separator.
func parseISO(s string) (time.Time, error) {
	s = strings.Replace(s, " T", "T", 1)
	s = strings.Replace(s, "T ", "T", 1)
	s = strings.Replace(s, " ", "T", 1)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC().Truncate(time.Second), nil
}

func (t stamp) ptr() *time.Time {
	if !t.OK {
		return nil
	}
	v := t.T
	return &v
}

func typeError(b []byte, t reflect.Type) error {
	v := string(b)
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	return &json.UnmarshalTypeError{Value: v, Type: t}
}

// liveToCamel rewrites a live document's snake_case keys to the historic camelCase names,
// at every depth, keeping values unchanged.
func liveToCamel(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(renameKeys(v))
}

func renameKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[snakeToCamel(k)] = renameKeys(e)
		}
		return out
	case []any:
		for i := range x {
			x[i] = renameKeys(x[i])
		}
		return x
	default:
		return v
	}
}

func snakeToCamel(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	var b strings.Builder
	up := false
	for _, r := range s {
		switch {
		case r == '_':
			up = b.Len() > 0
		case up:
			b.WriteRune(unicode.ToUpper(r))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// camelToSnake turns a decoder field path back into the live document's spelling.
func camelToSnake(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsUpper(r) {
			b.WriteByte('_')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
