package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/vektah/gqlparser/v2/ast"
)

// doc is a resolved object: every field of its type by schema name, plus "__typename" for
// union members. Object lists are []doc.
type doc = map[string]any

// item is one element of a list root field, with the key subscriptions diff it by.
type item struct {
	key string
	doc doc
}

// obj is a projected object: the selected fields in selection order, as the response
// renders them. nonNull marks fields a changed-fields-only update must still fill.
type obj struct {
	typename string
	fields   []kv
}

type kv struct {
	key, name string
	val       any
	nonNull   bool
}

// MarshalJSON writes the fields in selection order.
func (o *obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o.fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.val)
		if err != nil {
			return nil, fmt.Errorf("encoding field %s: %w", f.key, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// executor projects resolved documents onto selection sets.
type executor struct {
	schema *ast.Schema
	vars   map[string]any
}

// collect flattens a selection set for one object type: fields, matching inline
// fragments and fragment spreads, honouring @skip and @include.
func (e executor) collect(sel ast.SelectionSet, typename string) []*ast.Field {
	var out []*ast.Field
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.Field:
			if e.included(s.Directives) {
				out = append(out, s)
			}
		case *ast.InlineFragment:
			if (s.TypeCondition == "" || s.TypeCondition == typename) && e.included(s.Directives) {
				out = append(out, e.collect(s.SelectionSet, typename)...)
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && s.Definition.TypeCondition == typename && e.included(s.Directives) {
				out = append(out, e.collect(s.Definition.SelectionSet, typename)...)
			}
		}
	}
	return out
}

func (e executor) included(ds ast.DirectiveList) bool {
	if d := ds.ForName("skip"); d != nil && d.ArgumentMap(e.vars)["if"] == true {
		return false
	}
	if d := ds.ForName("include"); d != nil && d.ArgumentMap(e.vars)["if"] == false {
		return false
	}
	return true
}

// project renders v (a doc, []doc, []item, scalar or scalar list) for a field of type t.
func (e executor) project(sel ast.SelectionSet, t *ast.Type, v any) any {
	if v == nil || len(sel) == 0 {
		return v
	}
	switch x := v.(type) {
	case []item:
		out := make([]any, len(x))
		for i, it := range x {
			out[i] = e.project(sel, t.Elem, it.doc)
		}
		return out
	case []doc:
		out := make([]any, len(x))
		for i, d := range x {
			out[i] = e.project(sel, t.Elem, d)
		}
		return out
	case doc:
		return e.object(sel, t.Name(), x)
	}
	return v
}

func (e executor) object(sel ast.SelectionSet, typeName string, d doc) *obj {
	if def := e.schema.Types[typeName]; def != nil && (def.Kind == ast.Union || def.Kind == ast.Interface) {
		typeName, _ = d["__typename"].(string)
	}
	o := &obj{typename: typeName}
	for _, f := range e.collect(sel, typeName) {
		alias := f.Alias
		if alias == "" {
			alias = f.Name
		}
		if f.Name == "__typename" {
			o.fields = append(o.fields, kv{key: alias, name: f.Name, val: typeName, nonNull: true})
			continue
		}
		if f.Definition == nil {
			continue
		}
		o.fields = append(o.fields, kv{key: alias, name: f.Name, val: e.project(f.SelectionSet, f.Definition.Type, d[f.Name]),
			nonNull: f.Definition.Type.NonNull})
	}
	return o
}

// diff is cur in changed-fields-only form against prev: unchanged nullable fields become
// null, non-null fields keep their value, changed objects are diffed field by field and
// changed lists are sent whole. It reports whether anything changed.
func diff(prev, cur *obj) (*obj, bool) {
	if prev == nil || prev.typename != cur.typename || len(prev.fields) != len(cur.fields) {
		return cur, true
	}
	out := &obj{typename: cur.typename, fields: make([]kv, len(cur.fields))}
	changed := false
	for i, f := range cur.fields {
		p := prev.fields[i]
		if p.key != f.key {
			return cur, true
		}
		out.fields[i] = f
		if reflect.DeepEqual(p.val, f.val) {
			if !f.nonNull {
				out.fields[i].val = nil
			}
			continue
		}
		changed = true
		po, ok1 := p.val.(*obj)
		co, ok2 := f.val.(*obj)
		if ok1 && ok2 {
			out.fields[i].val, _ = diff(po, co)
		}
	}
	return out, changed
}

// blank is o with every nullable field null: how a DELETED item is sent.
func blank(o *obj) *obj {
	out := &obj{typename: o.typename, fields: make([]kv, len(o.fields))}
	for i, f := range o.fields {
		out.fields[i] = f
		if !f.nonNull {
			out.fields[i].val = nil
		}
	}
	return out
}

func (o *obj) clone() *obj {
	return &obj{typename: o.typename, fields: append([]kv(nil), o.fields...)}
}

// setField sets every field of o with schema name name (whatever its alias).
func (o *obj) setField(name string, v any) {
	for i := range o.fields {
		if o.fields[i].name == name {
			o.fields[i].val = v
		}
	}
}
