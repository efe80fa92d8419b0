// Package archtest holds tests that keep Kinko's architecture as STYLE.md
// draws it: which packages may import which, and that every package says
// what it is for. It has no code of its own and must never be imported.
package archtest
