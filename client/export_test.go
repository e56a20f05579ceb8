package client

import "encoding/json"

// SamplePageBodies is a 50-chat list page as the server writes it, in
// MessagePack and in JSON, for the external tests' benchmarks.
func SamplePageBodies() (mp, js []byte) {
	page := samplePage(50)
	js, err := json.Marshal(page)
	if err != nil {
		panic(err)
	}
	return newPageWriter().chatPage(page), js
}
