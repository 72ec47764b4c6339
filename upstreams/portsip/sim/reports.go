package sim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
)

// job is a stored report job, written as the API returns it.
type job struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Format       string          `json:"format"`
	ScheduleName string          `json:"schedule_name"`
	StartTime    *string         `json:"start_time"`
	EndTime      *string         `json:"end_time"`
	CronExpr     string          `json:"cron_expr"`
	Active       bool            `json:"active"`
	Recipients   string          `json:"recipients"`
	Timezone     *string         `json:"timezone"`
	Params       json.RawMessage `json:"params"`
	CreatedAt    *string         `json:"created_at"`
	UpdatedAt    *string         `json:"updated_at"`
}

// logEntry is one report execution (report_list).
type logEntry struct {
	ID           string  `json:"id"`
	JobID        string  `json:"job_id"`
	ScheduleName string  `json:"schedule_name"`
	Status       string  `json:"status"`
	Format       string  `json:"format"`
	FileName     string  `json:"file_name"`
	CreatedAt    *string `json:"created_at"`
}

// newID makes ids like the document's example (base64 of a decimal snowflake); caller locks.
func (s *Server) newID() string {
	s.nextID++
	return base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(s.nextID, 10)))
}

// Jobs returns the stored report jobs (a copy), for tests.
func (s *Server) Jobs() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]json.RawMessage, len(s.jobs))
	for i, j := range s.jobs {
		out[i], _ = json.Marshal(j)
	}
	return out
}

// RunJobs runs every active job once: each adds a SUCCESS entry to report_list.
func (s *Server) RunJobs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.ts(s.center.Now())
	for _, j := range s.jobs {
		if !j.Active {
			continue
		}
		s.logs = append(s.logs, &logEntry{ID: s.newID(), JobID: j.ID, ScheduleName: j.ScheduleName, Status: "SUCCESS",
			Format: j.Format, FileName: strings.ReplaceAll(j.ScheduleName, " ", "_") + "." + strings.ToLower(j.Format), CreatedAt: now})
	}
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	all := make([]job, len(s.jobs))
	for i, j := range s.jobs {
		all[i] = *j
	}
	s.mu.Unlock()
	writeList(w, r, all)
}

func (s *Server) findJob(id string) (int, bool) {
	for i, j := range s.jobs {
		if j.ID == id {
			return i, true
		}
	}
	return 0, false
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.findJob(r.PathValue("id"))
	if !ok {
		writeErr(w, http.StatusNotFound, "NOT_FOUND", "no report job with this id")
		return
	}
	writeJSON(w, http.StatusOK, s.jobs[i])
}

// applyJob sets the fields present in body on j and validates the result.
func (s *Server) applyJob(j *job, body map[string]json.RawMessage) error {
	str := func(k string, dst *string) error {
		v, ok := body[k]
		if !ok {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return bad("INVALID_PARAMETER", "%s must be a string", k)
		}
		return nil
	}
	optStr := func(k string, dst **string) error {
		var v string
		if _, ok := body[k]; !ok {
			return nil
		}
		if err := str(k, &v); err != nil {
			return err
		}
		*dst = strp(v)
		return nil
	}
	for _, f := range []func() error{
		func() error { return str("type", &j.Type) },
		func() error { return str("format", &j.Format) },
		func() error { return str("schedule_name", &j.ScheduleName) },
		func() error { return str("cron_expr", &j.CronExpr) },
		func() error { return str("recipients", &j.Recipients) },
		func() error { return optStr("start_time", &j.StartTime) },
		func() error { return optStr("end_time", &j.EndTime) },
		func() error { return optStr("timezone", &j.Timezone) },
		func() error { return optStr("time_zone", &j.Timezone) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	if v, ok := body["active"]; ok {
		if err := json.Unmarshal(v, &j.Active); err != nil {
			return bad("INVALID_PARAMETER", "active must be a boolean")
		}
	}
	if v, ok := body["params"]; ok {
		j.Params = v
	}
	switch {
	case j.Type == "":
		return bad("INVALID_PARAMETER", "type is required")
	case j.ScheduleName == "":
		return bad("INVALID_PARAMETER", "schedule_name is required")
	case j.Format != "CSV" && j.Format != "HTML":
		return bad("INVALID_FORMAT", "format must be CSV or HTML")
	case len(strings.Fields(j.CronExpr)) != 5:
		return bad("INVALID_CRON_EXPR", "cron_expr must have 5 fields")
	}
	rs := strings.Split(j.Recipients, ";")
	if j.Recipients == "" || len(rs) > 20 {
		return bad("INVALID_RECIPIENTS", "recipients must hold 1 to 20 e-mail addresses separated by semicolons")
	}
	for _, r := range rs {
		if a, err := mail.ParseAddress(strings.TrimSpace(r)); err != nil || a.Address != strings.TrimSpace(r) {
			return bad("INVALID_RECIPIENTS", "%q is not an e-mail address", r)
		}
	}
	for _, k := range []string{"start_time", "end_time"} {
		if v, ok := body[k]; ok && string(v) != "null" && string(v) != `""` {
			var t string
			_ = json.Unmarshal(v, &t)
			if _, err := parseTime(k, t); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	if err := decodeBody(r, &body); err != nil {
		writeBad(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := &job{Params: json.RawMessage("null")}
	if err := s.applyJob(j, body); err != nil {
		writeBad(w, err)
		return
	}
	j.ID = s.newID()
	j.CreatedAt = s.ts(s.center.Now())
	j.UpdatedAt = j.CreatedAt
	s.jobs = append(s.jobs, j)
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) updateJob(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	if err := decodeBody(r, &body); err != nil {
		writeBad(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.findJob(r.PathValue("id"))
	if !ok {
		writeErr(w, http.StatusNotFound, "NOT_FOUND", "no report job with this id")
		return
	}
	j := *s.jobs[i]
	if err := s.applyJob(&j, body); err != nil {
		writeBad(w, err)
		return
	}
	j.UpdatedAt = s.ts(s.center.Now())
	s.jobs[i] = &j
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.findJob(r.PathValue("id"))
	if !ok {
		writeErr(w, http.StatusNotFound, "NOT_FOUND", "no report job with this id")
		return
	}
	s.jobs = append(s.jobs[:i], s.jobs[i+1:]...)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listLogs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	all := make([]logEntry, len(s.logs))
	for i, l := range s.logs {
		all[i] = *l
	}
	s.mu.Unlock()
	writeList(w, r, all)
}

func (s *Server) deleteLog(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, l := range s.logs {
		if l.ID == r.PathValue("id") {
			s.logs = append(s.logs[:i], s.logs[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeErr(w, http.StatusNotFound, "NOT_FOUND", "no report log with this id")
}
