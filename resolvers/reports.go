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

// listReportJobs pages through the sources one after another: the cursor holds the source
// index and the offset within it.
func listReportJobs(ctx context.Context, js []upstreams.ReportJobber, cur offsetCursor, n int) (*model.ReportJobConnection, error) {
	conn := &model.ReportJobConnection{Edges: []*model.ReportJobEdge{}, PageInfo: &model.PageInfo{}}
	total, totalKnown := 0, true
	for i := cur.Source; i < len(js) && len(conn.Edges) < n; i++ {
		skip := 0
		if i == cur.Source {
			skip = cur.Skip
		}
		page, err := js[i].ListReportJobs(ctx, skip, n-len(conn.Edges))
		if err != nil {
			return nil, err
		}
		if page.TotalCount != nil {
			total += *page.TotalCount
		} else {
			totalKnown = false
		}
		for k, j := range page.Jobs {
			c := encodeOffset(offsetCursor{Source: i, Skip: skip + k + 1})
			conn.Edges = append(conn.Edges, &model.ReportJobEdge{Cursor: c, Node: j})
		}
		if page.HasNext {
			conn.PageInfo.HasNextPage = true
			break
		}
		if i < len(js)-1 && len(conn.Edges) >= n {
			conn.PageInfo.HasNextPage = true
		}
	}
	if len(conn.Edges) > 0 {
		conn.PageInfo.EndCursor = &conn.Edges[len(conn.Edges)-1].Cursor
	}
	if totalKnown && cur.Source == 0 && cur.Skip == 0 {
		conn.TotalCount = &total
	}
	return conn, nil
}
