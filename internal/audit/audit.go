// Package audit is Kinko's append-only, hash-chained audit log: who did what
// to which object, and when. Every staff action is recorded (DESIGN.md §6),
// and products record their state transitions (an escrow deal accepted,
// released, refunded) in the same database transaction as the change, so an
// entry exists exactly when its change committed.
//
// Entries are numbered 1, 2, 3 … without gaps (Seq), and each carries the
// SHA-256 hash of its own fields and of the hash of the entry before it (see
// Entry.ComputeHash for the exact encoding), so an entry changed, removed or
// inserted behind Kinko's back breaks the chain, and Service.Verify says
// where. The numbering and the chain never fork, even with several nodes on
// one PostgreSQL: Append takes the store's single head row for update, so
// appends are serialised. A transaction that rolls back takes no number.
//
// The chain proves the log has not been edited since it was written, by
// anyone who cannot also rewrite every later entry and the head; keep the
// head's hash (kinko verify prints it) outside the database to detect that
// too. docs/audit.md is the operator's guide.
//
// This package never imports net/http, a SQL driver or another domain
// package; store adapters implement Store and Tx.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Bounds. An entry is small by design: Data says what changed, not the
// whole object.
const (
	ActionLenMax      = 64   // bytes of an action, e.g. "staff.role_changed"
	SubjectTypeLenMax = 32   // bytes of a subject type, e.g. "staff_user"
	IDLenMax          = 128  // bytes of an actor id, a subject id or an org id
	DataLenMax        = 8192 // bytes of an entry's Data once compacted
	EntriesPerAppend  = 100  // entries one Append or Record may write
	PageLimitMax      = 1000 // entries one FindEntries page may return
	GapsReportMax     = 100  // gap ranges one Report lists (MissingEntries counts them all)
	HashLen           = sha256.Size
)

// HashVersion is the version of the encoding Entry.ComputeHash hashes. It is
// the first field of every hashed message, so a message of one version can
// never be read as one of another.
const HashVersion = "kinko.audit.v1"

// ActorType says what kind of party acted.
type ActorType string

const (
	ActorStaff  ActorType = "staff"  // a staff user of the operator; ID is their stf_ id
	ActorUser   ActorType = "user"   // an end user (buyer, seller, member, wallet holder)
	ActorOrg    ActorType = "org"    // an organization through one of its API keys; ID is its org_ id
	ActorSystem ActorType = "system" // Kinko itself: ID names the part, e.g. "cli", "scheduler"
)

// ActorTypes lists every actor type.
var ActorTypes = []ActorType{ActorStaff, ActorUser, ActorOrg, ActorSystem}

// Actor is who did something.
type Actor struct {
	Type ActorType
	ID   string // 1..IDLenMax bytes
}

// Subject is what something was done to, e.g. {"staff_user", "stf_…"} or
// {"deal", "dl_…"}.
type Subject struct {
	Type string // 1..SubjectTypeLenMax bytes of [a-z0-9_], starting with a letter
	ID   string // 1..IDLenMax bytes
}

// Entry is one audited action. Seq, At, PrevHash and Hash are assigned by
// Append; whatever a caller puts there is replaced.
type Entry struct {
	Seq      int64     // 1, 2, 3 … without gaps
	At       time.Time // when it was appended (UTC, microseconds), by the appending node's clock
	Actor    Actor
	Action   string          // "noun.verb" in lower case, e.g. "deal.accepted", "staff.role_changed"
	Subject  Subject         // the object acted on
	OrgID    string          // the organization that owns the subject; "" when none
	Data     json.RawMessage // a JSON object of at most DataLenMax bytes, stored compacted; "{}" when none
	PrevHash []byte          // Hash of entry Seq-1; empty for entry 1
	Hash     []byte          // ComputeHash of this entry
}

// ComputeHash returns the SHA-256 hash that chains e, computed from every
// field but Hash. The hashed message is the concatenation of these fields,
// each written as a 4-byte big-endian length followed by that many bytes:
//
//  1. HashVersion, "kinko.audit.v1"
//  2. PrevHash (empty for entry 1)
//  3. Seq, 8 bytes, big-endian two's complement
//  4. At as microseconds since 1970-01-01 UTC, 8 bytes, big-endian two's complement
//  5. Actor.Type
//  6. Actor.ID
//  7. Action
//  8. Subject.Type
//  9. Subject.ID
//  10. OrgID (empty when none)
//  11. Data, the compacted JSON bytes exactly as stored
//
// Strings are their UTF-8 bytes. Lengths make the encoding unambiguous: no
// two different entries produce the same message.
func (e Entry) ComputeHash() []byte {
	h := sha256.New()
	writeEntry(h, e)
	return h.Sum(nil)
}

func writeEntry(h hash.Hash, e Entry) {
	var n [4]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	str := func(s string) {
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		io.WriteString(h, s)
	}
	var v [8]byte
	i64 := func(x int64) {
		binary.BigEndian.PutUint64(v[:], uint64(x))
		field(v[:])
	}
	str(HashVersion)
	field(e.PrevHash)
	i64(e.Seq)
	i64(e.At.UnixMicro())
	str(string(e.Actor.Type))
	str(e.Actor.ID)
	str(e.Action)
	str(e.Subject.Type)
	str(e.Subject.ID)
	str(e.OrgID)
	field(e.Data)
}

var (
	actionPattern      = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	subjectTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// emptyData is the Data of an entry recorded without any.
var emptyData = json.RawMessage("{}")

// prepare validates entries and returns copies ready to chain: Data
// compacted (or "{}"), the fields Append assigns cleared.
//
// Errors: invalid (entries, actor.type, actor.id, action, subject.type,
// subject.id, org_id, data).
func prepare(entries []Entry) ([]Entry, error) {
	if len(entries) > EntriesPerAppend {
		return nil, apperr.Invalid("entries", "at most %d entries may be appended at once, got %d", EntriesPerAppend, len(entries))
	}
	out := make([]Entry, len(entries))
	for i, e := range entries {
		where := ""
		if len(entries) > 1 {
			where = fmt.Sprintf("entry %d: ", i)
		}
		data, err := checkEntry(e)
		if err != nil {
			var ae *apperr.Error
			if errors.As(err, &ae) {
				ae.Message = where + ae.Message
			}
			return nil, err
		}
		out[i] = Entry{Actor: e.Actor, Action: e.Action, Subject: e.Subject, OrgID: e.OrgID, Data: data}
	}
	return out, nil
}

// checkEntry validates the caller's fields of e and returns its Data compacted.
func checkEntry(e Entry) (json.RawMessage, error) {
	switch e.Actor.Type {
	case ActorStaff, ActorUser, ActorOrg, ActorSystem:
	default:
		return nil, apperr.Invalid("actor.type", "actor type must be one of staff, user, org, system; got %q", e.Actor.Type)
	}
	if err := checkID("actor.id", e.Actor.ID, true); err != nil {
		return nil, err
	}
	if len(e.Action) > ActionLenMax || !actionPattern.MatchString(e.Action) {
		return nil, apperr.Invalid("action", "action must be lower-case words joined by dots, such as deal.accepted, at most %d bytes; got %q", ActionLenMax, truncate(e.Action))
	}
	if len(e.Subject.Type) > SubjectTypeLenMax || !subjectTypePattern.MatchString(e.Subject.Type) {
		return nil, apperr.Invalid("subject.type", "subject type must be a lower-case word such as staff_user, at most %d bytes; got %q", SubjectTypeLenMax, truncate(e.Subject.Type))
	}
	if err := checkID("subject.id", e.Subject.ID, true); err != nil {
		return nil, err
	}
	if err := checkID("org_id", e.OrgID, false); err != nil {
		return nil, err
	}
	return normalizeData(e.Data)
}

// checkID accepts 1..IDLenMax bytes (0 when optional) of UTF-8 without
// control characters.
func checkID(param, s string, required bool) error {
	if (required && s == "") || len(s) > IDLenMax || !utf8.ValidString(s) || hasControl(s) {
		min := 0
		if required {
			min = 1
		}
		return apperr.Invalid(param, "%s must be %d to %d bytes of UTF-8 without control characters", param, min, IDLenMax)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// normalizeData returns d compacted, or "{}" for no data.
// Errors: invalid (data) unless d is a JSON object in valid UTF-8 of at most
// DataLenMax bytes once compacted.
func normalizeData(d json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(d)) == 0 {
		return emptyData, nil
	}
	// Compact rejects what is not JSON; it does not check UTF-8, which
	// PostgreSQL text and outside verifiers need.
	if !utf8.Valid(d) {
		return nil, apperr.Invalid("data", "data must be valid UTF-8")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, d); err != nil {
		return nil, apperr.Invalid("data", "data must be a JSON object: %s", err.Error())
	}
	out := buf.Bytes()
	if out[0] != '{' {
		return nil, apperr.Invalid("data", "data must be a JSON object")
	}
	if len(out) > DataLenMax {
		return nil, apperr.Invalid("data", "data must be at most %d bytes of compact JSON, got %d", DataLenMax, len(out))
	}
	return out, nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
