package server

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// minCompressBytes: smaller responses go out as they are; gzip would save little and cost
// a header and a compressor.
const minCompressBytes = 1024

// compressor negotiates gzip for GraphQL responses (Accept-Encoding). Streams are left
// alone: WebSocket upgrades and server-sent events (Accept: text/event-stream), whose
// events must reach the client as they happen.
type compressor struct {
	pool sync.Pool // *gzip.Writer
}

func (c *compressor) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Accept-Encoding")
		if !acceptsGzip(r.Header.Values("Accept-Encoding")) {
			next.ServeHTTP(w, r)
			return
		}
		gw := &gzipResponse{ResponseWriter: w, c: c, status: http.StatusOK}
		defer gw.finish()
		next.ServeHTTP(gw, r)
	})
}

// acceptsGzip reports whether the Accept-Encoding values allow gzip (or any coding) with a
// non-zero quality.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "*" {
				continue
			}
			q := 1.0
			if k, val, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					q = f
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}

// gzipResponse holds back the first minCompressBytes; a response that stays smaller, or
// that the handler already encoded, is written as it is.
type gzipResponse struct {
	http.ResponseWriter
	c       *compressor
	status  int
	buf     []byte
	zw      *gzip.Writer
	decided bool
}

func (g *gzipResponse) WriteHeader(code int) {
	if !g.decided {
		g.status = code
	}
}

func (g *gzipResponse) Write(p []byte) (int, error) {
	if g.decided {
		if g.zw != nil {
			return g.zw.Write(p)
		}
		return g.ResponseWriter.Write(p)
	}
	g.buf = append(g.buf, p...)
	if len(g.buf) >= minCompressBytes {
		if err := g.decide(true); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// decide sends the header, compressed when big is set and the response allows it, then
// what was held back.
func (g *gzipResponse) decide(big bool) error {
	g.decided = true
	h := g.Header()
	if big && h.Get("Content-Encoding") == "" && g.status != http.StatusNoContent && g.status != http.StatusNotModified {
		h.Set("Content-Encoding", "gzip")
		h.Del("Content-Length")
		zw, _ := g.c.pool.Get().(*gzip.Writer)
		if zw == nil {
			zw, _ = gzip.NewWriterLevel(g.ResponseWriter, gzip.BestSpeed)
		} else {
			zw.Reset(g.ResponseWriter)
		}
		g.zw = zw
		g.ResponseWriter.WriteHeader(g.status)
		_, err := zw.Write(g.buf)
		g.buf = nil
		return err
	}
	g.ResponseWriter.WriteHeader(g.status)
	_, err := g.ResponseWriter.Write(g.buf)
	g.buf = nil
	return err
}

// finish writes what is still held back and returns the compressor to the pool.
func (g *gzipResponse) finish() {
	if !g.decided {
		_ = g.decide(false)
	}
	if g.zw != nil {
		_ = g.zw.Close()
		g.zw.Reset(nil)
		g.c.pool.Put(g.zw)
		g.zw = nil
	}
}

// Flush sends what is compressed so far (a handler that streams).
func (g *gzipResponse) Flush() {
	if !g.decided {
		_ = g.decide(len(g.buf) >= minCompressBytes)
	}
	if g.zw != nil {
		_ = g.zw.Flush()
	}
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (g *gzipResponse) Unwrap() http.ResponseWriter { return g.ResponseWriter }
