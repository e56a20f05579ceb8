// Package dataset generates chatstate's standard dataset: a deterministic,
// seeded stream of fsm commands that builds a realistic state of accounts,
// operators and chats.
//
// The same stream serves two consumers. The state machine's benchmarks
// encode it into log entries and apply it directly; the chatbench load tool
// sends the same shapes through the HTTP client. Both therefore see exactly
// the same data for a given Config.
//
// At scale 1.0 the dataset holds 1,000,000 chats over 1,000 accounts: one
// big account of 200,000 chats (20,000 active, 180,000 closed) with 100
// operators, and 800,000 chats spread unevenly over the other 999 accounts,
// each with 2 to 8 operators and about 10% of its chats active. Every chat
// carries 5 messages of about 100 bytes: the customer's first message at
// creation, then a mix of customer messages and operator replies (the first
// reply assigns the chat), with some joins and leaves, a few read/unread
// marks, and a close for every closed chat. The newest chats of each account
// are the active ones, as in a live system. See Shape for the exact figures
// at other scales.
//
// Every command's Header.Time is Config.Start plus one Config.Step per
// command before it, so times increase strictly. Chat ids are predicted the
// way the state machine assigns them (per account, from 1, in creation
// order), so the stream is valid only when applied in order to accounts that
// start empty.
package dataset
