package tvox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/switchboard-cc/switchboard/upstreams"
)

// The collections the RTD Server serves, named as its root fields.
const (
	collUsers        = "users"
	collUserStats    = "userStats"
	collProfileStats = "userProfileStats"
	collServiceStats = "serviceStats"
	collGroupStats   = "groupStats"
)

// store holds the merged RTD documents of one topic, by collection and item key. A
// subscription sends only changed fields, with null for the rest, so an update is merged
// into the held document (null = unchanged), never put in its place.
type store struct {
	docs map[string]map[string]map[string]any
}

func newStore() *store { return &store{docs: map[string]map[string]map[string]any{}} }

func (s *store) coll(name string) map[string]map[string]any {
	c := s.docs[name]
	if c == nil {
		c = map[string]map[string]any{}
		s.docs[name] = c
	}
	return c
}

// load merges a GraphQL data object ({"users": [...], "userStats": [...]}) into s.
func (s *store) load(spec upstreams.SourceSpec, op string, data json.RawMessage) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return spec.FieldError(op, "data", err)
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch k {
		case collUsers, collUserStats, collProfileStats, collServiceStats, collGroupStats:
			if err := s.apply(spec, op, k, fields[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply merges a list of items of one collection.
func (s *store) apply(spec upstreams.SourceSpec, op, coll string, items json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(items))
	dec.UseNumber() // numbers stay exactly as received in Raw
	var list []map[string]any
	if err := dec.Decode(&list); err != nil {
		return spec.FieldError(op, coll, fmt.Errorf("not a list of objects: %w", err))
	}
	c := s.coll(coll)
	for i, item := range list {
		if item == nil {
			continue
		}
		key, err := itemKey(coll, item)
		if err != nil {
			return spec.FieldError(op, fmt.Sprintf("%s[%d].%s", coll, i, err.Error()), errors.New("missing or not a scalar"))
		}
		if coll == collUsers && item["mutation"] == MutationDeleted {
			delete(c, key)
			continue
		}
		if old := c[key]; old != nil {
			merge(old, item)
		} else {
			c[key] = item
		}
	}
	return nil
}

// itemKey identifies an item; the error names the missing key field.
func itemKey(coll string, item map[string]any) (string, error) {
	var fields []string
	switch coll {
	case collUsers:
		fields = []string{"username"}
	case collUserStats:
		fields = []string{"username", "channel"}
	case collProfileStats:
		fields = []string{"id", "channel"}
	default:
		fields = []string{"code", "channel"}
	}
	key := ""
	for i, f := range fields {
		var v string
		switch x := item[f].(type) {
		case string:
			v = x
		case json.Number:
			v = x.String()
		}
		if v == "" {
			return "", errors.New(f)
		}
		if i > 0 {
			key += "|"
		}
		key += v
	}
	return key, nil
}

// merge copies the non-null fields of delta into dst, recursing into objects. Lists are
// replaced whole: the server cannot say "element unchanged".
func merge(dst, delta map[string]any) {
	for k, v := range delta {
		if v == nil {
			continue
		}
		if dm, ok := v.(map[string]any); ok {
			if om, ok := dst[k].(map[string]any); ok {
				merge(om, dm)
				continue
			}
		}
		dst[k] = v
	}
}

func rawOf(doc map[string]any) json.RawMessage {
	if doc == nil {
		return nil
	}
	b, _ := json.Marshal(doc) // maps of decoded JSON always marshal
	return b
}

// agentDocs gathers what each agent is made of: the user, its CALL stat, and the CALL
// stat of its active (or logged) profile.
func (s *store) agentDocs() map[string]agentDocs {
	users, stats, profiles := s.docs[collUsers], s.docs[collUserStats], s.docs[collProfileStats]
	out := make(map[string]agentDocs, len(users))
	for key, u := range users {
		d := agentDocs{User: rawOf(u)}
		st := stats[key+"|"+ChannelCall]
		d.Stat = rawOf(st)
		profile := scalar(u["activeProfile"])
		if profile == "" && st != nil {
			profile = scalar(st["loggedProfileId"])
		}
		if profile != "" {
			d.Profile = rawOf(profiles[profile+"|"+ChannelCall])
		}
		out[key] = d
	}
	return out
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}

// objects maps the held documents of a topic to canonical objects by key.
func (s *store) objects(m mapper, op string, topic upstreams.Topic) (map[string]any, error) {
	out := map[string]any{}
	switch topic {
	case upstreams.TopicAgents:
		for key, d := range s.agentDocs() {
			a, err := m.agent(op, d)
			if err != nil {
				return nil, err
			}
			out[key] = a
		}
	case upstreams.TopicQueues:
		for _, kind := range []string{collServiceStats, collGroupStats} {
			for _, doc := range s.docs[kind] {
				q, err := m.queue(op, kind, rawOf(doc))
				if err != nil {
					return nil, err
				}
				out[q.VendorID] = q
			}
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// liveState is a topic's state held by the Driver across connections, so that a
// reconnection after re-authentication resyncs by difference instead of starting over.
type liveState struct {
	sem     chan struct{} // one Stream per topic at a time
	docs    *store
	emitted map[string]any
}

// emit sends the canonical state to sink: everything on reset, otherwise only changes.
func (ls *liveState) emit(m mapper, op string, topic upstreams.Topic, sink upstreams.Sink, reset bool) error {
	objs, err := ls.docs.objects(m, op, topic)
	if err != nil {
		return err
	}
	if reset {
		items := make([]upstreams.Item, 0, len(objs))
		for _, k := range sortedKeys(objs) {
			items = append(items, upstreams.Item{Key: k, Value: objs[k]})
		}
		sink.Reset(items)
	} else {
		for _, k := range sortedKeys(objs) {
			if old, ok := ls.emitted[k]; !ok || !reflect.DeepEqual(old, objs[k]) {
				sink.Upsert(k, objs[k])
			}
		}
		for _, k := range sortedKeys(ls.emitted) {
			if _, ok := objs[k]; !ok {
				sink.Remove(k)
			}
		}
	}
	ls.emitted = objs
	return nil
}
