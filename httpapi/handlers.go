package httpapi

import "github.com/chatstate/chatstate/fsm"

// registerRoutes declares every endpoint: route, method, who may call it
// (see API.md, Authentication) and its handler.
func (s *Server) registerRoutes() {
	t := &s.routes
	t.add(routeHealthz, methodGet, scopeOpen, s.healthz)
	t.add(routeReadyz, methodGet, scopeOpen, s.readyz)
	t.add(routeMetrics, methodGet, scopeAdmin, s.serveMetrics)
	t.add(routeStatus, methodGet, scopeAny, s.status)

	t.add(routeClusterJoin, methodPost, scopeAdmin, s.clusterJoin)
	t.add(routeClusterNode, methodDelete, scopeAdmin, s.clusterRemove)
	t.add(routeClusterSnapshot, methodPost, scopeAdmin, s.clusterSnapshot)
	t.add(routeClusterBackup, methodGet, scopeAdmin, s.clusterBackup)
	t.add(routeClusterRestore, methodPost, scopeAdmin, s.clusterRestore)

	t.add(routeAccounts, methodGet, scopeAdmin, s.listAccounts)
	t.add(routeAccount, methodGet, scopeAccount, s.getAccount)
	t.add(routeAccount, methodPut, scopeAdmin, s.putAccount)

	t.add(routeOperators, methodGet, scopeAccount, s.listOperators)
	t.add(routeOperator, methodGet, scopeAccount, s.getOperator)
	t.add(routeOperator, methodPut, scopeAccount, s.putOperator)
	t.add(routeOperator, methodDelete, scopeAccount, s.deleteOperator)
	t.add(routeNotifications, methodGet, scopeAccount, s.listNotifications)
	t.add(routeNotificationsRead, methodPost, scopeAccount, s.readNotifications)

	t.add(routeChats, methodGet, scopeAccount, s.listChats)
	t.add(routeChats, methodPost, scopeAccount, s.createChat)
	t.add(routeChatCounts, methodGet, scopeAccount, s.counts)
	t.add(routeChat, methodGet, scopeAccount, s.getChat)
	t.add(routeMessages, methodGet, scopeAccount, s.listMessages)
	t.add(routeMessages, methodPost, scopeAccount, s.postMessage)
	t.add(routeJoin, methodPost, scopeAccount, s.chatAction(fsm.CmdJoin))
	t.add(routeLeave, methodPost, scopeAccount, s.chatAction(fsm.CmdLeave))
	t.add(routeUnread, methodPost, scopeAccount, s.chatAction(fsm.CmdMarkUnread))
	t.add(routeRead, methodPost, scopeAccount, s.chatAction(fsm.CmdMarkRead))
	t.add(routeClose, methodPost, scopeAccount, s.chatAction(fsm.CmdClose))
	t.add(routeReopen, methodPost, scopeAccount, s.chatAction(fsm.CmdReopen))
	t.add(routeAssign, methodPost, scopeAccount, s.assign)

	t.add(routeEvents, methodGet, scopeAccount, s.events)
	t.add(routeKeys, methodPost, scopeAdmin, s.createKey)
	t.add(routeKey, methodDelete, scopeAdmin, s.revokeKey)
}
