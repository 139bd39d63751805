package fxbustest

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// What a failure message lists: the last maxListed events, each cut to
// maxValue bytes, so that a flood of events keeps the message readable.
const (
	maxListed = 20
	maxValue  = 240
)

// describe says what a recorder holds: how many events, how many of each
// type, how many were missed, and the last ones with their values; the
// read position is marked with "->".
func describe[E any](events []E, head int, missed uint64) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "recorded %d event(s)", len(events))
	if missed > 0 {
		fmt.Fprintf(&sb, ", and missed %d that the bus overwrote before they were recorded (its capacity is too small for the burst)", missed)
	}
	if len(events) == 0 {
		return sb.String()
	}
	// Counts by dynamic type, in order of first appearance.
	var types []string
	count := map[string]int{}
	for _, ev := range events {
		name := fmt.Sprintf("%T", ev)
		if count[name] == 0 {
			types = append(types, name)
		}
		count[name]++
	}
	sb.WriteString(": ")
	for i, name := range types {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%d %s", count[name], name)
	}
	from := max(0, len(events)-maxListed)
	if from > 0 {
		fmt.Fprintf(&sb, "\n      ... %d earlier event(s)", from)
	}
	for i := from; i < len(events); i++ {
		mark := "  "
		if i == head {
			mark = "->"
		}
		fmt.Fprintf(&sb, "\n  %s %3d %s", mark, i, value(events[i]))
	}
	if head == len(events) {
		sb.WriteString("\n  -> (read position: after the last event)")
	}
	return sb.String()
}

// value formats one event with its type and fields, cut to maxValue bytes.
func value(v any) string {
	// One line per event: an error's second line (a stack) would read as
	// the next event.
	s := strings.ReplaceAll(fmt.Sprintf("%T %+v", v, v), "\n", `\n`)
	if len(s) > maxValue {
		cut := maxValue
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}
