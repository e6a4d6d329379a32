package psrp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Fragment is one piece of a message (MS-PSRP 2.2.4): a message is split into fragments that each fit one
// WS-Management packet, and several fragments may travel in one packet.
type Fragment struct {
	ObjectID   uint64 // the message's id, > 0 and unique within a runspace pool
	FragmentID uint64 // 0 for the first fragment
	Start, End bool
	Blob       []byte
}

// fragmentHeader is ObjectId (8) + FragmentId (8) + flags (1) + BlobLength (4).
const fragmentHeader = 21

// MaxBlob is the largest blob MS-PSRP allows in one fragment.
const MaxBlob = 32768

// Split cuts msg into fragments of at most maxBlob bytes of payload (MaxBlob when maxBlob is out of
// range). The blobs alias msg.
func Split(objectID uint64, msg []byte, maxBlob int) []Fragment {
	if maxBlob <= 0 || maxBlob > MaxBlob {
		maxBlob = MaxBlob
	}
	var out []Fragment
	var id uint64
	for first := true; first || len(msg) > 0; first = false {
		n := min(len(msg), maxBlob)
		out = append(out, Fragment{ObjectID: objectID, FragmentID: id, Start: first, End: n == len(msg), Blob: msg[:n]})
		msg = msg[n:]
		id++
	}
	return out
}

// AppendFragments splits msg as Split does and appends the fragments' encoding to dst.
func AppendFragments(dst []byte, objectID uint64, msg []byte, maxBlob int) []byte {
	for _, f := range Split(objectID, msg, maxBlob) {
		dst = f.Append(dst)
	}
	return dst
}

// Append appends the fragment's encoding to dst.
func (f Fragment) Append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, f.ObjectID)
	dst = binary.BigEndian.AppendUint64(dst, f.FragmentID)
	var flags byte
	if f.Start {
		flags |= 1
	}
	if f.End {
		flags |= 2
	}
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.Blob))) //nolint:gosec // blobs are at most MaxBlob
	return append(dst, f.Blob...)
}

// ParseFragments reads every fragment in b (the decoded content of one stream element). Blobs alias b.
func ParseFragments(b []byte) ([]Fragment, error) {
	var out []Fragment
	for len(b) > 0 {
		if len(b) < fragmentHeader {
			return out, fmt.Errorf("psrp fragment: %d bytes left, a header needs %d", len(b), fragmentHeader)
		}
		n := binary.BigEndian.Uint32(b[17:21])
		if n > MaxBlob {
			return out, fmt.Errorf("psrp fragment: blob of %d bytes is over the %d the protocol allows", n, MaxBlob)
		}
		if uint64(len(b)-fragmentHeader) < uint64(n) {
			return out, fmt.Errorf("psrp fragment: blob of %d bytes, only %d arrived", n, len(b)-fragmentHeader)
		}
		f := Fragment{
			ObjectID:   binary.BigEndian.Uint64(b[0:8]),
			FragmentID: binary.BigEndian.Uint64(b[8:16]),
			Start:      b[16]&1 != 0,
			End:        b[16]&2 != 0,
			Blob:       b[fragmentHeader : fragmentHeader+int(n)],
		}
		if f.ObjectID == 0 {
			return out, errors.New("psrp fragment: object id 0 (must be > 0)")
		}
		out = append(out, f)
		b = b[fragmentHeader+int(n):]
	}
	return out, nil
}

// Defragmenter reassembles messages from fragments that arrive in order (MS-PSRP 3.1.1.2.3): one message at
// a time per sender, as every Windows implementation sends them.
type Defragmenter struct {
	// Max bounds a reassembled message (default 64 MiB), so that a broken peer cannot grow it forever.
	Max     int
	current uint64
	next    uint64
	buf     []byte
}

// Add takes one fragment and returns a whole message when f completes one.
func (d *Defragmenter) Add(f Fragment) ([]byte, error) {
	limit := d.Max
	if limit <= 0 {
		limit = 64 << 20
	}
	switch {
	case f.Start:
		if d.current != 0 {
			return nil, fmt.Errorf("psrp fragment: object %d starts while object %d is incomplete", f.ObjectID, d.current)
		}
		if f.FragmentID != 0 {
			return nil, fmt.Errorf("psrp fragment: object %d starts with fragment id %d (want 0)", f.ObjectID, f.FragmentID)
		}
		d.current, d.next, d.buf = f.ObjectID, 0, d.buf[:0]
	case d.current == 0:
		return nil, fmt.Errorf("psrp fragment: object %d fragment %d without a start", f.ObjectID, f.FragmentID)
	case f.ObjectID != d.current:
		return nil, fmt.Errorf("psrp fragment: object %d while object %d is incomplete", f.ObjectID, d.current)
	}
	if f.FragmentID != d.next {
		return nil, fmt.Errorf("psrp fragment: object %d fragment %d, expected %d", f.ObjectID, f.FragmentID, d.next)
	}
	if len(d.buf)+len(f.Blob) > limit {
		d.current = 0
		return nil, fmt.Errorf("psrp fragment: object %d is larger than %d bytes", f.ObjectID, limit)
	}
	d.buf = append(d.buf, f.Blob...)
	d.next++
	if !f.End {
		return nil, nil
	}
	d.current = 0
	msg := make([]byte, len(d.buf))
	copy(msg, d.buf)
	return msg, nil
}

// Pending reports whether a message is incomplete.
func (d *Defragmenter) Pending() bool { return d.current != 0 }
