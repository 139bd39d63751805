// Package demo holds the event types that the helper commands of
// natsbridge exchange between processes: both sides import the same Go
// types, as services sharing an events package would.
package demo

import (
	"strconv"

	"github.com/claviron/fxruntime/natsbridge/durable"
)

// Subjects the helper commands bridge.
const (
	SubjectGreetings = "demo.greetings"
	SubjectReplies   = "demo.replies"
	SubjectFleet     = "demo.fleet"
	SubjectTicks     = "demo.ticks"
)

// Greeting is sent by the "say" peer.
type Greeting struct {
	From string
	Text string
	Seq  int
}

// Reply is sent back by the "listen" peer for each Greeting.
type Reply struct {
	To  string
	Seq int
}

// Tick is the event of the throughput measurement: about 60 bytes of JSON.
type Tick struct {
	Seq    int64
	Source string
	At     int64 // Unix nanoseconds at emit
}

// SubjectJobs is the subject of the durable helper's stream, JOBS.
const SubjectJobs = "demo.jobs"

// JobsStream is the stream of the jobs.
var JobsStream = durable.StreamConfig{Name: "JOBS", Subjects: []string{SubjectJobs}}

// Job is the durable event of the jspeer helper. Its ID is its sequence
// number, so a publish retried with the same Job is stored once.
type Job struct {
	Seq int
}

// EventID gives the durable publisher the Job's message ID.
func (j Job) EventID() string { return "job-" + strconv.Itoa(j.Seq) }
