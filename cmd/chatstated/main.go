// Command chatstated runs one node of a chatstate cluster: the Raft node,
// its stores and the HTTP API.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	opts, err := parseOptions(os.Args[1:], lookupEnv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatstated:", err)
		os.Exit(2)
	}
	_ = opts
	fmt.Fprintln(os.Stderr, "chatstated: the server is not wired yet")
	os.Exit(1)
}
