package httpapi

import "bytes"

// routeID names one path pattern of the API.
type routeID uint8

const (
	routeNone routeID = iota
	routeHealthz
	routeReadyz
	routeMetrics
	routeStatus
	routeClusterJoin
	routeClusterNode
	routeClusterSnapshot
	routeClusterBackup
	routeClusterRestore
	routeAccounts
	routeAccount
	routeOperators
	routeOperator
	routeNotifications
	routeNotificationsRead
	routeChats
	routeChatCounts
	routeChat
	routeMessages
	routeJoin
	routeLeave
	routeUnread
	routeRead
	routeClose
	routeReopen
	routeAssign
	routeEvents
	routeKeys
	routeKey
	routeCount
)

// routePatterns are the metrics' route labels.
var routePatterns = [routeCount]string{
	routeNone:              "unmatched",
	routeHealthz:           "/healthz",
	routeReadyz:            "/readyz",
	routeMetrics:           "/metrics",
	routeStatus:            "/v1/status",
	routeClusterJoin:       "/v1/cluster/join",
	routeClusterNode:       "/v1/cluster/nodes/{id}",
	routeClusterSnapshot:   "/v1/cluster/snapshot",
	routeClusterBackup:     "/v1/cluster/backup",
	routeClusterRestore:    "/v1/cluster/restore",
	routeAccounts:          "/v1/accounts",
	routeAccount:           "/v1/accounts/{a}",
	routeOperators:         "/v1/accounts/{a}/operators",
	routeOperator:          "/v1/accounts/{a}/operators/{op}",
	routeNotifications:     "/v1/accounts/{a}/operators/{op}/notifications",
	routeNotificationsRead: "/v1/accounts/{a}/operators/{op}/notifications/read",
	routeChats:             "/v1/accounts/{a}/chats",
	routeChatCounts:        "/v1/accounts/{a}/chats/counts",
	routeChat:              "/v1/accounts/{a}/chats/{id}",
	routeMessages:          "/v1/accounts/{a}/chats/{id}/messages",
	routeJoin:              "/v1/accounts/{a}/chats/{id}/join",
	routeLeave:             "/v1/accounts/{a}/chats/{id}/leave",
	routeUnread:            "/v1/accounts/{a}/chats/{id}/unread",
	routeRead:              "/v1/accounts/{a}/chats/{id}/read",
	routeClose:             "/v1/accounts/{a}/chats/{id}/close",
	routeReopen:            "/v1/accounts/{a}/chats/{id}/reopen",
	routeAssign:            "/v1/accounts/{a}/chats/{id}/assign",
	routeEvents:            "/v1/accounts/{a}/events",
	routeKeys:              "/v1/accounts/{a}/keys",
	routeKey:               "/v1/accounts/{a}/keys/{id}",
}

// pathParams are the raw variable segments of a matched path. They point
// into the request and are valid only during the handler.
type pathParams struct {
	account []byte // {a}
	sub     []byte // {op}, the key's or node's {id}
	chat    []byte // the chat's {id}
}

const maxSegments = 8

// matchRoute maps a path to its route. It allocates nothing.
func matchRoute(path []byte) (routeID, pathParams) {
	var p pathParams
	var seg [maxSegments][]byte
	n := 0
	if len(path) == 0 || path[0] != '/' {
		return routeNone, p
	}
	rest := path[1:]
	for {
		if n == maxSegments {
			return routeNone, p
		}
		i := bytes.IndexByte(rest, '/')
		if i < 0 {
			seg[n] = rest
			n++
			break
		}
		seg[n] = rest[:i]
		n++
		rest = rest[i+1:]
	}
	for i := 0; i < n; i++ {
		if len(seg[i]) == 0 {
			return routeNone, p
		}
	}
	is := func(i int, s string) bool { return string(seg[i]) == s }
	switch {
	case n == 1 && is(0, "healthz"):
		return routeHealthz, p
	case n == 1 && is(0, "readyz"):
		return routeReadyz, p
	case n == 1 && is(0, "metrics"):
		return routeMetrics, p
	case n < 2 || !is(0, "v1"):
		return routeNone, p
	case n == 2 && is(1, "status"):
		return routeStatus, p
	case is(1, "cluster"):
		switch {
		case n == 3 && is(2, "join"):
			return routeClusterJoin, p
		case n == 3 && is(2, "snapshot"):
			return routeClusterSnapshot, p
		case n == 3 && is(2, "backup"):
			return routeClusterBackup, p
		case n == 3 && is(2, "restore"):
			return routeClusterRestore, p
		case n == 4 && is(2, "nodes"):
			p.sub = seg[3]
			return routeClusterNode, p
		}
		return routeNone, p
	case !is(1, "accounts"):
		return routeNone, p
	case n == 2:
		return routeAccounts, p
	}
	p.account = seg[2]
	if n == 3 {
		return routeAccount, p
	}
	switch string(seg[3]) {
	case "operators":
		switch n {
		case 4:
			return routeOperators, p
		case 5:
			p.sub = seg[4]
			return routeOperator, p
		case 6:
			if is(5, "notifications") {
				p.sub = seg[4]
				return routeNotifications, p
			}
		case 7:
			if is(5, "notifications") && is(6, "read") {
				p.sub = seg[4]
				return routeNotificationsRead, p
			}
		}
	case "chats":
		switch n {
		case 4:
			return routeChats, p
		case 5:
			if is(4, "counts") {
				return routeChatCounts, p
			}
			p.chat = seg[4]
			return routeChat, p
		case 6:
			p.chat = seg[4]
			switch string(seg[5]) {
			case "messages":
				return routeMessages, p
			case "join":
				return routeJoin, p
			case "leave":
				return routeLeave, p
			case "unread":
				return routeUnread, p
			case "read":
				return routeRead, p
			case "close":
				return routeClose, p
			case "reopen":
				return routeReopen, p
			case "assign":
				return routeAssign, p
			}
		}
	case "events":
		if n == 4 {
			return routeEvents, p
		}
	case "keys":
		switch n {
		case 4:
			return routeKeys, p
		case 5:
			p.sub = seg[4]
			return routeKey, p
		}
	}
	return routeNone, p
}

// scope is who may call an endpoint when authentication is on.
type scope uint8

const (
	scopeOpen    scope = iota // anyone, no token needed (/healthz, /readyz)
	scopeAny                  // any valid token (/v1/status)
	scopeAccount              // the admin token or a key of the path's account
	scopeAdmin                // the admin token only
)

// methodIndex numbers the methods the API uses.
type methodIndex uint8

const (
	methodGet methodIndex = iota
	methodPut
	methodPost
	methodDelete
	methodCount
)

var methodNames = [methodCount]string{"GET", "PUT", "POST", "DELETE"}

func methodOf(m []byte) (methodIndex, bool) {
	switch string(m) {
	case "GET":
		return methodGet, true
	case "PUT":
		return methodPut, true
	case "POST":
		return methodPost, true
	case "DELETE":
		return methodDelete, true
	}
	return 0, false
}

// endpoint is one (route, method) of the API.
type endpoint struct {
	handle func(*request)
	scope  scope
}

// routeTable holds each route's endpoints by method and its Allow header.
type routeTable struct {
	endpoints [routeCount][methodCount]*endpoint
	allow     [routeCount]string
}

func (t *routeTable) add(r routeID, m methodIndex, sc scope, h func(*request)) {
	t.endpoints[r][m] = &endpoint{handle: h, scope: sc}
	allow := ""
	for i, e := range t.endpoints[r] {
		if e != nil {
			if allow != "" {
				allow += ", "
			}
			allow += methodNames[i]
		}
	}
	t.allow[r] = allow
}
