package resolvers

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// sourceCursor is the composite cursor: each source's driver cursor after the last call of
// that source handed out, or done when the source has nothing more.
type sourceCursor struct {
	After string `json:"a,omitempty"`
	Done  bool   `json:"d,omitempty"`
}

type compositeCursor map[string]sourceCursor

func encodeCursor(c compositeCursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s *string) (compositeCursor, error) {
	c := compositeCursor{}
	if s == nil || *s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*s)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return nil, errorf(CodeBadInput, "after: malformed cursor")
	}
	return c, nil
}

func (r *Resolver) pageSize(first *int) (int, error) {
	max := r.MaxPageSize
	if max <= 0 {
		max = 100
	}
	if first == nil {
		return min(20, max), nil
	}
	if *first < 1 || *first > max {
		return 0, errorf(CodeBadInput, "first: must be between 1 and %d", max)
	}
	return *first, nil
}

type sourcePage struct {
	src  *Source
	page *upstreams.CallPage
	err  error
}

// mergeCalls asks every source for a page after its cursor and merges them by start time,
// taking first calls. Failed sources are reported as partial errors; the page goes on.
func mergeCalls(ctx context.Context, srcs []*Source, listers []upstreams.CallLister, q upstreams.CallQuery, cur compositeCursor, keep func(*model.Call) bool) (*model.CallConnection, error) {
	pages := make([]sourcePage, len(srcs))
	fetch := func(i int) {
		s, c := srcs[i], cur[srcs[i].Spec.ID]
		if c.Done {
			pages[i] = sourcePage{src: s, page: &upstreams.CallPage{}}
			return
		}
		sq := q
		sq.After = c.After
		p, err := listers[i].ListCalls(ctx, sq)
		pages[i] = sourcePage{src: s, page: p, err: err}
	}
	parallel(len(srcs), fetch)

	var failures []error
	total, totalKnown := 0, true
	for i := range pages {
		if pages[i].err != nil {
			failures = append(failures, pages[i].err)
			pages[i].page = &upstreams.CallPage{}
			totalKnown = false
			continue
		}
		if pages[i].page == nil {
			pages[i].page = &upstreams.CallPage{}
		}
		if tc := pages[i].page.TotalCount; tc != nil {
			total += *tc
		} else if !cur[pages[i].src.Spec.ID].Done {
			totalKnown = false
		}
	}
	if len(failures) == len(srcs) && len(srcs) > 0 {
		return nil, failures[0]
	}
	for _, err := range failures {
		addSourceError(ctx, err)
	}

	next := compositeCursor{}
	for k, v := range cur {
		next[k] = v
	}
	pos := make([]int, len(pages))
	conn := &model.CallConnection{PageInfo: &model.PageInfo{}}
	for len(conn.Edges) < q.First {
		best := -1
		for i, p := range pages {
			if pos[i] >= len(p.page.Edges) {
				continue
			}
			if best < 0 || lessCall(p.page.Edges[pos[i]].Call, pages[best].page.Edges[pos[best]].Call) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		e := pages[best].page.Edges[pos[best]]
		pos[best]++
		id := pages[best].src.Spec.ID
		next[id] = sourceCursor{After: e.Cursor}
		if pos[best] == len(pages[best].page.Edges) && !pages[best].page.HasNext {
			next[id] = sourceCursor{After: e.Cursor, Done: true}
		}
		if e.Call == nil || !keep(e.Call) {
			continue
		}
		conn.Edges = append(conn.Edges, &model.CallEdge{Cursor: encodeCursor(next), Node: e.Call})
	}
	more := false
	for i, p := range pages {
		if pages[i].err != nil {
			continue
		}
		id := p.src.Spec.ID
		if pos[i] < len(p.page.Edges) || p.page.HasNext {
			more = true
		} else if len(p.page.Edges) == 0 && !next[id].Done {
			next[id] = sourceCursor{After: next[id].After, Done: true}
		}
	}
	conn.PageInfo.HasNextPage = more
	if len(conn.Edges) > 0 {
		conn.Edges[len(conn.Edges)-1].Cursor = encodeCursor(next)
		conn.PageInfo.EndCursor = &conn.Edges[len(conn.Edges)-1].Cursor
	} else if more {
		// Every call of this page was filtered out: still hand back a cursor to go on from.
		c := encodeCursor(next)
		conn.PageInfo.EndCursor = &c
	}
	if totalKnown && len(failures) == 0 {
		conn.TotalCount = &total
	}
	return conn, nil
}

func lessCall(a, b *model.Call) bool {
	if a == nil || b == nil {
		return b != nil
	}
	if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
		return c < 0
	}
	return cmp.Or(cmp.Compare(a.SourceID, b.SourceID), cmp.Compare(a.VendorID, b.VendorID)) < 0
}

// offsetCursor pages lists that sources serve by offset (report jobs): source index and skip.
type offsetCursor struct {
	Source int `json:"s"`
	Skip   int `json:"k"`
}

func encodeOffset(c offsetCursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeOffset(s *string) (offsetCursor, error) {
	var c offsetCursor
	if s == nil || *s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Source < 0 || c.Skip < 0 {
		return c, errorf(CodeBadInput, "after: malformed cursor")
	}
	return c, nil
}

func containsFold(list []string, v *string) bool {
	return v != nil && slices.Contains(list, *v)
}
