package client

import (
	"net/url"
	"strconv"
)

// query appends URL query parameters to a path.
type query struct {
	b       []byte
	started bool
}

// newQuery starts a query on path, with room for a few parameters.
func newQuery(path string) query {
	return query{b: append(make([]byte, 0, len(path)+128), path...)}
}

func (q *query) sep() {
	if q.started {
		q.b = append(q.b, '&')
	} else {
		q.b = append(q.b, '?')
		q.started = true
	}
}

func (q *query) add(name, value string) {
	q.sep()
	q.b = append(q.b, name...)
	q.b = append(q.b, '=')
	q.b = appendQueryEscaped(q.b, value)
}

// appendQueryEscaped appends url.QueryEscape(v), without the allocation
// for values that need no escaping (ids and the API's enumerations).
func appendQueryEscaped(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~') {
			return append(b, url.QueryEscape(v)...)
		}
	}
	return append(b, v...)
}

// addOpt adds name=value when value is not empty.
func (q *query) addOpt(name, value string) {
	if value != "" {
		q.add(name, value)
	}
}

func (q *query) addInt(name string, v int64) {
	q.sep()
	q.b = append(q.b, name...)
	q.b = append(q.b, '=')
	q.b = strconv.AppendInt(q.b, v, 10)
}

func (q *query) addBool(name string, v *bool) {
	if v != nil {
		q.add(name, strconv.FormatBool(*v))
	}
}

func (q *query) String() string { return string(q.b) }
