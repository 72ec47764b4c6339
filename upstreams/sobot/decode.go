package sobot

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// fieldError is a mapping failure naming the document field at fault; the driver turns it
// into an upstreams.Error with spec.FieldError.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return "field " + e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func fieldErr(field string, format string, args ...any) error {
	return &fieldError{field: field, err: fmt.Errorf(format, args...)}
}

// within prefixes the field of a nested fieldError ("list[3]" + "callID").
func within(prefix string, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		return &fieldError{field: prefix + "." + fe.field, err: fe.err}
	}
	return &fieldError{field: prefix, err: err}
}

// decodeDoc decodes one JSON object into dst (a pointer to a struct with json tags). When
// decoding fails it finds the failing field so the error names it.
func decodeDoc(raw json.RawMessage, dst any) error {
	err := json.Unmarshal(raw, dst)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &fieldError{field: te.Field, err: fmt.Errorf("want %s, got JSON %s", te.Type, te.Value)}
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return &fieldError{field: "(document)", err: errors.New("not a JSON object")}
	}
	t := reflect.TypeOf(dst).Elem()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		v, ok := m[name]
		if name == "" || !ok {
			continue
		}
		if ferr := json.Unmarshal(v, reflect.New(t.Field(i).Type).Interface()); ferr != nil {
			return &fieldError{field: name, err: ferr}
		}
	}
	return &fieldError{field: "(document)", err: err}
}
