package resolvers

import (
	"context"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

func (r *Resolver) reportJobber(ctx context.Context, id string) (upstreams.ReportJobber, string, error) {
	src, vendorID, err := r.sourceByGlobalID(ctx, id, model.KindReportJob)
	if err != nil {
		return nil, "", err
	}
	_, js, err := capable[upstreams.ReportJobber]([]*Source{src}, "report jobs")
	if err != nil {
		return nil, "", err
	}
	return js[0], vendorID, nil
}

// offsetQuery reads the arguments of an offset-paged list and the caller's sources able to
// serve it.
func offsetQuery[D any](ctx context.Context, r *Resolver, first *int, after *string, what string) ([]D, offsetCursor, int, error) {
	n, err := r.pageSize(first)
	if err != nil {
		return nil, offsetCursor{}, 0, err
	}
	cur, err := decodeOffset(after)
	if err != nil {
		return nil, offsetCursor{}, 0, err
	}
	all, err := r.tenantSources(ctx, nil)
	if err != nil {
		return nil, offsetCursor{}, 0, err
	}
	_, ds, err := capable[D](all, what)
	if err != nil {
		return nil, offsetCursor{}, 0, err
	}
	return ds, cur, n, nil
}

// offsetPage is one source's page of an offset-paged list.
type offsetPage[T any] struct {
	items   []*T
	hasNext bool
	total   *int
}

// offsetEdge is an item and the cursor just after it.
type offsetEdge[T any] struct {
	cursor string
	node   *T
}

// listOffset pages through sources one after another (report jobs and logs): the cursor
// holds the source index and the offset within it.
func listOffset[T any](sources int, cur offsetCursor, n int, list func(i, skip, top int) (offsetPage[T], error)) ([]offsetEdge[T], *model.PageInfo, *int, error) {
	var edges []offsetEdge[T]
	info := &model.PageInfo{}
	total, totalKnown := 0, true
	for i := cur.Source; i < sources && len(edges) < n; i++ {
		skip := 0
		if i == cur.Source {
			skip = cur.Skip
		}
		page, err := list(i, skip, n-len(edges))
		if err != nil {
			return nil, nil, nil, err
		}
		if page.total != nil {
			total += *page.total
		} else {
			totalKnown = false
		}
		for k, it := range page.items {
			edges = append(edges, offsetEdge[T]{cursor: encodeOffset(offsetCursor{Source: i, Skip: skip + k + 1}), node: it})
		}
		if page.hasNext {
			info.HasNextPage = true
			break
		}
		if i < sources-1 && len(edges) >= n {
			info.HasNextPage = true
		}
	}
	if len(edges) > 0 {
		info.EndCursor = &edges[len(edges)-1].cursor
	}
	var tc *int
	if totalKnown && cur.Source == 0 && cur.Skip == 0 {
		tc = &total
	}
	return edges, info, tc, nil
}

func listReportJobs(ctx context.Context, js []upstreams.ReportJobber, cur offsetCursor, n int) (*model.ReportJobConnection, error) {
	edges, info, total, err := listOffset(len(js), cur, n, func(i, skip, top int) (offsetPage[model.ReportJob], error) {
		p, err := js[i].ListReportJobs(ctx, skip, top)
		if err != nil {
			return offsetPage[model.ReportJob]{}, err
		}
		return offsetPage[model.ReportJob]{items: p.Jobs, hasNext: p.HasNext, total: p.TotalCount}, nil
	})
	if err != nil {
		return nil, err
	}
	conn := &model.ReportJobConnection{Edges: []*model.ReportJobEdge{}, PageInfo: info, TotalCount: total}
	for _, e := range edges {
		conn.Edges = append(conn.Edges, &model.ReportJobEdge{Cursor: e.cursor, Node: e.node})
	}
	return conn, nil
}

func listReportLogs(ctx context.Context, ls []upstreams.ReportLogger, cur offsetCursor, n int) (*model.ReportLogConnection, error) {
	edges, info, total, err := listOffset(len(ls), cur, n, func(i, skip, top int) (offsetPage[model.ReportLog], error) {
		p, err := ls[i].ListReportLogs(ctx, skip, top)
		if err != nil {
			return offsetPage[model.ReportLog]{}, err
		}
		return offsetPage[model.ReportLog]{items: p.Logs, hasNext: p.HasNext, total: p.TotalCount}, nil
	})
	if err != nil {
		return nil, err
	}
	conn := &model.ReportLogConnection{Edges: []*model.ReportLogEdge{}, PageInfo: info, TotalCount: total}
	for _, e := range edges {
		conn.Edges = append(conn.Edges, &model.ReportLogEdge{Cursor: e.cursor, Node: e.node})
	}
	return conn, nil
}
