// Package chatstate is the root of the chatstate module: a replicated,
// in-memory chat-state server for customer-support chat products.
//
// The code lives in the packages below this one (see README.md). This
// package holds only tests about the module as a whole, such as the rule
// that imports point down the layering fsm <- node <- httpapi/cluster <- cmd.
package chatstate
