package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// migration upgrades a state file from schema version schemaVersion-1 to
// schemaVersion.
type migration struct {
	// schemaVersion is the version the file has once migrate has run.
	schemaVersion int
	// name says what the migration does, for the audit log and errors.
	name string
	// migrate rewrites the file's content, in tx, from the layout before
	// schemaVersion to schemaVersion's. It returns notes on what it could
	// not carry over (they go into the audit entry of the upgrade, so that
	// nothing is lost silently). Its errors name the rename and key
	// concerned; the store adds the file. It must not set the schema
	// version: the store does, once every migration has run.
	migrate func(tx *bolt.Tx) (notes []string, err error)
}

// migrations lists every migration, oldest first; the last one's
// schemaVersion is SchemaVersion. A file is upgraded by running, in one
// transaction, every migration newer than its version.
var migrations = []migration{
	{
		schemaVersion: 2,
		name:          "typed rename data",
		migrate:       migrateTypedData,
	},
}

// upgrade brings a file of schema version from up to SchemaVersion. In
// one read-write transaction, with the file locked for writing, it first
// copies the file as it is to a backup next to it (see backupFile), then
// runs every migration newer than from, sets the schema version and
// appends an audit entry naming both versions, the backup and what was
// dropped. If anything fails the transaction is rolled back, the file is
// left as it was and the backup just made is removed.
func (s *Store) upgrade(db *bolt.DB, op string, from int) error {
	var backup string
	done := false
	err := s.run(db, true, op, func(tx *bolt.Tx) error {
		// The backup is made inside the transaction: nobody else can write
		// the file while this process holds it for writing, and bbolt
		// writes nothing of this transaction until it commits, so the
		// bytes on disk are the last commit's, whole.
		var err error
		backup, err = s.backupFile(from)
		if err != nil {
			return err
		}
		var names, notes []string
		for _, m := range migrations {
			if m.schemaVersion <= from {
				continue
			}
			n, err := m.migrate(tx)
			if err != nil {
				return &stateError{
					msg: fmt.Sprintf("state file %q: cannot upgrade it from schema version %d to %d (migration %d, %s): %v; "+
						"the file was left as it was, at version %d",
						s.path, from, SchemaVersion, m.schemaVersion, m.name, err, from),
					cause: err,
				}
			}
			names = append(names, fmt.Sprintf("%d %s", m.schemaVersion, m.name))
			notes = append(notes, n...)
		}
		if err := tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte(strconv.Itoa(SchemaVersion))); err != nil {
			return fmt.Errorf("state file %q: write the schema version: %w", s.path, err)
		}
		detail := fmt.Sprintf("schema version %d → %d (migrations: %s); the file as it was is kept in %s",
			from, SchemaVersion, strings.Join(names, ", "), backup)
		if len(notes) > 0 {
			detail += "; dropped, no longer used: " + strings.Join(notes, "; ")
		}
		if _, err := s.appendAudit(tx, AuditEntry{
			Command: strings.Join(os.Args, " "),
			Action:  "upgrade state file",
			Detail:  detail,
			Result:  "ok",
		}, s.clock()); err != nil {
			return err
		}
		done = true
		return nil
	})
	if err != nil && !done && backup != "" {
		// The file is as it was: the backup is only a copy of it. (When
		// the commit itself failed the backup is kept, in case.)
		_ = os.Remove(backup)
	}
	return err
}

// backupFile copies the state file, byte for byte, to a new file next to
// it, and returns the copy's path: <path>.v<from>.bak, or, when that
// exists, <path>.v<from>.<UTC time>.bak (with -2, -3, ... appended to the
// time if that exists too). It never overwrites a file. The copy is synced
// to disk before it returns. The caller must hold the file locked for
// writing.
func (s *Store) backupFile(from int) (string, error) {
	src, err := os.Open(s.path)
	if err != nil {
		return "", fmt.Errorf("state file %q: copy it before upgrading it: %w", s.path, err)
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return "", fmt.Errorf("state file %q: copy it before upgrading it: %w", s.path, err)
	}
	base := fmt.Sprintf("%s.v%d", s.path, from)
	stamp := s.clock().Format("20060102T150405Z")
	var dst *os.File
	var name string
	for i := 0; dst == nil; i++ {
		switch i {
		case 0:
			name = base + ".bak"
		case 1:
			name = base + "." + stamp + ".bak"
		default:
			name = fmt.Sprintf("%s.%s-%d.bak", base, stamp, i)
		}
		dst, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
		switch {
		case errors.Is(err, fs.ErrExist) && i < 100:
			continue
		case err != nil:
			return "", fmt.Errorf("state file %q: copy it to %q before upgrading it: %w", s.path, name, err)
		}
	}
	n, err := io.Copy(dst, src)
	if err == nil && n != info.Size() {
		err = fmt.Errorf("copied %d bytes of %d", n, info.Size())
	}
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(name))
	}
	if err != nil {
		_ = os.Remove(name)
		return "", fmt.Errorf("state file %q: copy it to %q before upgrading it: %w", s.path, name, err)
	}
	return name, nil
}

// syncDir makes a new directory entry in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Schema 2 shapes, as migrateTypedData writes them. They are frozen here,
// apart from the package's own types (whose JSON they match at schema
// version 2), so that a later change to those types does not change what
// this migration writes: a later migration starts from exactly this.
type (
	v2Offsets      = map[int32]int64
	v2GroupOffsets = map[string]map[int32]int64

	v2ProducersCut struct {
		OldEnd v2Offsets `json:"old_end"`
	}
	v2Verification struct {
		At     time.Time `json:"at"`
		OldEnd v2Offsets `json:"old_end"`
	}
	v2SwapProgress struct {
		Done       string         `json:"done,omitempty"`
		Fence      *v2Fence       `json:"fence,omitempty"`
		Groups     v2GroupOffsets `json:"groups,omitempty"`
		OldOffsets v2GroupOffsets `json:"old_offsets,omitempty"`
		Spec       *v2TopicSpec   `json:"spec,omitempty"`
		DeletingAt time.Time      `json:"deleting_at,omitzero"`
	}
	v2Fence struct {
		Own   bool   `json:"own"`
		Value string `json:"value,omitempty"`
	}
	v2TopicSpec struct {
		Name              string            `json:"name"`
		Partitions        int               `json:"partitions"`
		ReplicationFactor int               `json:"replication_factor"`
		Configs           map[string]string `json:"configs,omitempty"`
		ACLs              []v2ACL           `json:"acls,omitempty"`
	}
	v2ACL struct {
		Principal  string `json:"principal"`
		Host       string `json:"host"`
		Operation  string `json:"operation"`
		Permission string `json:"permission"`
		Pattern    string `json:"pattern"`
		Resource   string `json:"resource"`
	}

	// v1SwapSpec is a schema 1 "swap_spec" value: the topic, and its ACLs
	// beside it.
	v1SwapSpec struct {
		Topic v2TopicSpec `json:"topic"`
		ACLs  []v2ACL     `json:"acls,omitempty"`
	}
)

// migrateTypedData is the migration to schema version 2. Schema 1 kept a
// rename's step results as strings in its "data" map, most of them JSON;
// schema 2 keeps them as typed fields. Each rename's "data" is replaced by
// producers_cut, verified and swap, and a group move's offsets, a JSON
// string in its step's params, become the step's offsets. The "topic" key
// (written by apply, never read) is dropped; any other key no schema 1 code
// wrote is dropped too, and named in the notes. Every other field of a
// rename is kept as it is.
func migrateTypedData(tx *bolt.Tx) ([]string, error) {
	b := tx.Bucket(bucketRenames)
	type put struct{ key, value []byte }
	var puts []put
	var notes []string
	// A bucket must not be changed while ForEach walks it: collect first.
	err := b.ForEach(func(k, v []byte) error {
		if v == nil {
			return fmt.Errorf("rename %q is a bucket, not a rename", k)
		}
		nv, n, err := upgradeRenameV2(string(k), v)
		if err != nil {
			return fmt.Errorf("rename %q: %w", k, err)
		}
		notes = append(notes, n...)
		puts = append(puts, put{bytes.Clone(k), nv})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, p := range puts {
		if err := b.Put(p.key, p.value); err != nil {
			return nil, fmt.Errorf("rename %q: store it: %w", p.key, err)
		}
	}
	return notes, nil
}

// upgradeRenameV2 rewrites one schema 1 rename (its JSON) as schema 2.
func upgradeRenameV2(from string, v []byte) (out []byte, notes []string, err error) {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, nil, fmt.Errorf("it is not a JSON object: %w", err)
	}
	var data map[string]string
	if raw, ok := rec["data"]; ok {
		if err := json.Unmarshal(raw, &data); err != nil {
			return nil, nil, fmt.Errorf("its data is not a map of strings: %w", err)
		}
		delete(rec, "data")
	}

	var (
		cut        *v2ProducersCut
		verifiedAt *time.Time
		verifiedTo v2Offsets
		swap       v2SwapProgress
		hasSwap    bool
	)
	// decode reads the JSON value of data key k into dst.
	decode := func(k, what string, dst any) error {
		if err := json.Unmarshal([]byte(data[k]), dst); err != nil {
			return fmt.Errorf("data %q = %s is not %s: %w", k, quoteShort(data[k]), what, err)
		}
		return nil
	}
	// Sorted, so that the notes, and the error when there are several, are
	// always the same.
	for _, k := range slices.Sorted(maps.Keys(data)) {
		val := data[k]
		if val == "" && isV1DataKey(k) {
			// Schema 1 code read an empty value as none.
			continue
		}
		switch k {
		case "old_end_at_producers_cut":
			cut = &v2ProducersCut{}
			err = decode(k, "JSON partition → offset", &cut.OldEnd)
		case "verified_at":
			var t time.Time
			t, err = time.Parse(time.RFC3339, val)
			if err != nil {
				err = fmt.Errorf("data %q = %s is not an RFC 3339 time: %w", k, quoteShort(val), err)
			}
			verifiedAt = &t
		case "verified_old_end":
			err = decode(k, "JSON partition → offset", &verifiedTo)
			if err == nil && verifiedTo == nil {
				verifiedTo = v2Offsets{}
			}
		case "swap_done":
			swap.Done, hasSwap = val, true
		case "swap_fence":
			swap.Fence, hasSwap = &v2Fence{}, true
			err = decode(k, `JSON {"own": bool, "value": string}`, swap.Fence)
		case "swap_groups":
			hasSwap = true
			err = decode(k, "JSON group → partition → offset", &swap.Groups)
		case "swap_old":
			hasSwap = true
			err = decode(k, "JSON group → partition → offset", &swap.OldOffsets)
		case "swap_spec":
			hasSwap = true
			var spec v1SwapSpec
			err = decode(k, `JSON {"topic": {...}, "acls": [...]}`, &spec)
			spec.Topic.ACLs = spec.ACLs
			swap.Spec = &spec.Topic
		case "swap_deleting":
			hasSwap = true
			swap.DeletingAt, err = time.Parse(time.RFC3339, val)
			if err != nil {
				err = fmt.Errorf("data %q = %s is not an RFC 3339 time: %w", k, quoteShort(val), err)
			}
		case "topic":
			// Written by apply when it ended, read by nothing.
		default:
			notes = append(notes, fmt.Sprintf("rename %q: data %q = %q", from, k, val))
		}
		if err != nil {
			return nil, nil, err
		}
	}
	// A verify that passed is the time and the offsets together; half of
	// it says nothing a later step could rely on.
	switch {
	case verifiedAt != nil && verifiedTo != nil:
		if err := setJSON(rec, "verified", v2Verification{At: *verifiedAt, OldEnd: verifiedTo}); err != nil {
			return nil, nil, err
		}
	case verifiedAt != nil:
		notes = append(notes, fmt.Sprintf("rename %q: data %q = %q (without %q)", from, "verified_at", data["verified_at"], "verified_old_end"))
	case verifiedTo != nil:
		notes = append(notes, fmt.Sprintf("rename %q: data %q = %q (without %q)", from, "verified_old_end", data["verified_old_end"], "verified_at"))
	}
	if cut != nil {
		if err := setJSON(rec, "producers_cut", cut); err != nil {
			return nil, nil, err
		}
	}
	if hasSwap {
		if err := setJSON(rec, "swap", swap); err != nil {
			return nil, nil, err
		}
	}
	if err := upgradeStepV2(rec); err != nil {
		return nil, nil, err
	}
	out, err = json.Marshal(rec)
	if err != nil {
		return nil, nil, fmt.Errorf("encode it: %w", err)
	}
	return out, notes, nil
}

// upgradeStepV2 moves the offsets of a group move in progress from its
// params (a JSON string under "offsets") to the step's offsets.
func upgradeStepV2(rec map[string]json.RawMessage) error {
	raw, ok := rec["step"]
	if !ok || string(raw) == "null" {
		return nil
	}
	var step map[string]json.RawMessage
	if err := json.Unmarshal(raw, &step); err != nil {
		return fmt.Errorf("its step is not a JSON object: %w", err)
	}
	var name string
	if err := json.Unmarshal(step["name"], &name); err != nil {
		return fmt.Errorf("its step's name is not a string: %w", err)
	}
	if !strings.HasPrefix(name, "move-group:") {
		return nil
	}
	var params map[string]string
	if p, ok := step["params"]; ok {
		if err := json.Unmarshal(p, &params); err != nil {
			return fmt.Errorf("step %q: its params are not a map of strings: %w", name, err)
		}
	}
	val, ok := params["offsets"]
	if !ok {
		return nil
	}
	var offsets v2GroupOffsets
	if err := json.Unmarshal([]byte(val), &offsets); err != nil {
		return fmt.Errorf("step %q: param %q = %s is not JSON topic → partition → offset: %w", name, "offsets", quoteShort(val), err)
	}
	delete(params, "offsets")
	if len(params) > 0 {
		if err := setJSON(step, "params", params); err != nil {
			return err
		}
	} else {
		delete(step, "params")
	}
	if len(offsets) > 0 {
		if err := setJSON(step, "offsets", offsets); err != nil {
			return err
		}
	}
	return setJSON(rec, "step", step)
}

// isV1DataKey reports whether schema 1 code wrote the data key k.
func isV1DataKey(k string) bool {
	switch k {
	case "old_end_at_producers_cut", "verified_at", "verified_old_end", "topic",
		"swap_done", "swap_fence", "swap_groups", "swap_old", "swap_spec", "swap_deleting":
		return true
	}
	return false
}

// setJSON sets m[k] to v as JSON.
func setJSON(m map[string]json.RawMessage, k string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode its %s: %w", k, err)
	}
	m[k] = raw
	return nil
}

// quoteShort quotes s, cut to 80 bytes: enough to recognize a value in an
// error.
func quoteShort(s string) string {
	if len(s) > 80 {
		return strconv.Quote(s[:80]) + "..."
	}
	return strconv.Quote(s)
}
