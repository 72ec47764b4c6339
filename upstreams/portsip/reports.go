package portsip

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchboard-cc/switchboard/graph/model"
	"github.com/switchboard-cc/switchboard/upstreams"
)

// ListReportJobs reads report_jobs from skip; a top over 100 is read in several pages.
func (d *Driver) ListReportJobs(ctx context.Context, skip, top int) (*upstreams.ReportJobPage, error) {
	const op = "listing report jobs"
	if skip < 0 {
		return nil, d.badArg(op, "skip: must not be negative")
	}
	if top < 1 {
		return nil, d.badArg(op, "top: must be at least 1")
	}
	items, total, err := d.c.list(ctx, op, http.MethodGet, "/dataflow/report_jobs", nil, nil, skip, top)
	if err != nil {
		return nil, d.observe(err)
	}
	page := &upstreams.ReportJobPage{TotalCount: total, Jobs: make([]*model.ReportJob, 0, len(items))}
	for i, raw := range items {
		j, err := d.m.mapReportJob(op, "items["+strconv.Itoa(i)+"]", raw)
		if err != nil {
			return nil, d.observe(err)
		}
		page.Jobs = append(page.Jobs, j)
	}
	if total != nil {
		page.HasNext = skip+len(items) < *total
	} else {
		page.HasNext = len(items) == top
	}
	return page, d.observe(nil)
}

// CreateReportJob validates the job (name, format, cron, recipients, time zone) before
// anything is sent, then posts it; the API answers with the stored job.
func (d *Driver) CreateReportJob(ctx context.Context, in model.ReportJobInput) (*model.ReportJob, error) {
	const op = "creating report job"
	body, field, err := reportJobRequest(in, true)
	if err != nil {
		return nil, d.inputErr(op, field, err)
	}
	b, err := d.c.call(ctx, op, http.MethodPost, "/dataflow/report_jobs", nil, body, false)
	if err != nil {
		return nil, d.observe(err)
	}
	j, err := d.m.mapReportJob(op, "", b)
	return j, d.observe(err)
}

// UpdateReportJob validates and posts the new content; the API answers 204, so the job
// is read back to return what PortSIP now holds.
func (d *Driver) UpdateReportJob(ctx context.Context, vendorID string, in model.ReportJobInput) (*model.ReportJob, error) {
	const op = "updating report job"
	if strings.TrimSpace(vendorID) == "" {
		return nil, d.badArg(op, "id: must not be empty")
	}
	body, field, err := reportJobRequest(in, false)
	if err != nil {
		return nil, d.inputErr(op, field, err)
	}
	path := "/dataflow/report_jobs/" + url.PathEscape(vendorID)
	if _, err := d.c.call(ctx, op, http.MethodPost, path, nil, body, false); err != nil {
		return nil, d.observe(err)
	}
	b, err := d.c.call(ctx, op, http.MethodGet, path, nil, nil, true)
	if err != nil {
		return nil, d.observe(err)
	}
	j, err := d.m.mapReportJob(op, "", b)
	return j, d.observe(err)
}

// DeleteReportJob posts report_jobs/{id}/destroy.
func (d *Driver) DeleteReportJob(ctx context.Context, vendorID string) error {
	const op = "deleting report job"
	if strings.TrimSpace(vendorID) == "" {
		return d.badArg(op, "id: must not be empty")
	}
	_, err := d.c.call(ctx, op, http.MethodPost, "/dataflow/report_jobs/"+url.PathEscape(vendorID)+"/destroy", nil, nil, false)
	return d.observe(err)
}

// ListReportLogs reads report_list (the executions of report jobs) from skip; a top over
// 100 is read in several pages.
func (d *Driver) ListReportLogs(ctx context.Context, skip, top int) (*upstreams.ReportLogPage, error) {
	const op = "listing report logs"
	if skip < 0 || top < 1 {
		return nil, d.badArg(op, "skip must be >= 0 and top >= 1")
	}
	items, total, err := d.c.list(ctx, op, http.MethodGet, "/dataflow/report_list", nil, nil, skip, top)
	if err != nil {
		return nil, d.observe(err)
	}
	page := &upstreams.ReportLogPage{TotalCount: total, Logs: make([]*model.ReportLog, 0, len(items))}
	for i, raw := range items {
		l, err := d.m.mapReportLog(op, "items["+strconv.Itoa(i)+"]", raw)
		if err != nil {
			return nil, d.observe(err)
		}
		page.Logs = append(page.Logs, l)
	}
	if total != nil {
		page.HasNext = skip+len(items) < *total
	} else {
		page.HasNext = len(items) == top
	}
	return page, d.observe(nil)
}

// DeleteReportLog posts report_list/{id}/destroy.
func (d *Driver) DeleteReportLog(ctx context.Context, id string) error {
	const op = "deleting report log"
	if strings.TrimSpace(id) == "" {
		return d.badArg(op, "id: must not be empty")
	}
	_, err := d.c.call(ctx, op, http.MethodPost, "/dataflow/report_list/"+url.PathEscape(id)+"/destroy", nil, nil, false)
	return d.observe(err)
}

// inputErr is a validation failure of a job input: no request was sent.
func (d *Driver) inputErr(op, field string, err error) error {
	e := d.spec.Errorf(op, upstreams.ErrBadArgument, err, err.Error())
	e.Field = field
	return e
}
