package upstreams

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DecodeOptions decodes spec.Options into dst (a pointer to the driver's Config struct,
// tagged with `json:"..."` names), rejecting unknown keys so typos in config surface.
func DecodeOptions(spec SourceSpec, dst any) error {
	if len(spec.Options) == 0 {
		return nil
	}
	b, err := json.Marshal(spec.Options)
	if err != nil {
		return fmt.Errorf("source %q: encoding options: %w", spec.ID, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("source %q: options: %w", spec.ID, err)
	}
	return nil
}

func isAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// Duration is a time.Duration in options, written as "1.5s"/"2m" or a number of seconds.
type Duration struct{ D time.Duration }

// UnmarshalJSON accepts a Go duration string or seconds as a number.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("parsing duration %q: %w", s, err)
		}
		d.D = v
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration must be a string like \"5s\" or a number of seconds")
	}
	d.D = time.Duration(secs * float64(time.Second))
	return nil
}

// Or returns d, or def when d is zero.
func (d Duration) Or(def time.Duration) time.Duration {
	if d.D == 0 {
		return def
	}
	return d.D
}
