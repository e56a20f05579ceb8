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

func newQuery(path string) query { return query{b: []byte(path)} }

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
	q.b = append(q.b, url.QueryEscape(value)...)
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
