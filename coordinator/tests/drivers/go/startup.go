package main

import (
	"context"
	"encoding/binary"
	"net"
	"sort"
	"strings"
	"sync"
)

// startupSniffer is the driver's dialer: it reads the STARTUP message each connection sends,
// so that `compression` reports what the driver asked the node for. (gocql drops a configured
// compressor without a word when the node's SUPPORTED does not list it.)
type startupSniffer struct {
	dialer net.Dialer
	mu     sync.Mutex
	seen   map[string]int // COMPRESSION option of each STARTUP ("none" if absent)
}

func newStartupSniffer() *startupSniffer {
	return &startupSniffer{seen: map[string]int{}}
}

func (s *startupSniffer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := s.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &sniffedConn{Conn: conn, sniffer: s}, nil
}

// compressions lists, sorted and comma-joined, the COMPRESSION options of the STARTUP messages
// seen so far.
func (s *startupSniffer) compressions() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for name := range s.seen {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "no STARTUP seen"
	}
	return strings.Join(names, ",")
}

// sniffedConn keeps what the client wrote until its STARTUP message has gone by.
type sniffedConn struct {
	net.Conn
	sniffer *startupSniffer
	buf     []byte
	done    bool
}

const (
	headerLen       = 9 // protocol v3 and later
	opcodeStartup   = 0x01
	maxSniffedBytes = 1 << 16
)

func (c *sniffedConn) Write(p []byte) (int, error) {
	if !c.done {
		c.buf = append(c.buf, p...)
		c.scan()
	}
	return c.Conn.Write(p)
}

// scan walks the frames written so far; on the STARTUP frame it records its COMPRESSION.
func (c *sniffedConn) scan() {
	rest := c.buf
	for len(rest) >= headerLen {
		length := int(binary.BigEndian.Uint32(rest[5:9]))
		if length < 0 || length > maxSniffedBytes {
			c.done = true
			return
		}
		if len(rest) < headerLen+length {
			break
		}
		if rest[4] == opcodeStartup {
			option := "none"
			if options, ok := stringMap(rest[headerLen : headerLen+length]); ok {
				if v, ok := options["COMPRESSION"]; ok {
					option = v
				}
			} else {
				option = "unreadable STARTUP"
			}
			c.sniffer.mu.Lock()
			c.sniffer.seen[option]++
			c.sniffer.mu.Unlock()
			c.done = true
			c.buf = nil
			return
		}
		rest = rest[headerLen+length:]
	}
	if len(c.buf) > maxSniffedBytes {
		c.done = true
		c.buf = nil
	}
}

// stringMap decodes a protocol [string map].
func stringMap(b []byte) (map[string]string, bool) {
	str := func() (string, bool) {
		if len(b) < 2 {
			return "", false
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return "", false
		}
		s := string(b[2 : 2+n])
		b = b[2+n:]
		return s, true
	}
	if len(b) < 2 {
		return nil, false
	}
	count := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	m := map[string]string{}
	for i := 0; i < count; i++ {
		k, ok := str()
		if !ok {
			return nil, false
		}
		v, ok := str()
		if !ok {
			return nil, false
		}
		m[k] = v
	}
	return m, true
}
