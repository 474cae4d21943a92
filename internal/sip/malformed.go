package sip

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Malformed SIP is handled in two places (docs/sip-conformance.md):
//
//   - screen, a read filter of the transport layer, sees every UDP datagram
//     before sipgo parses it. sipgo drops a datagram it cannot parse without
//     a word; screen parses it first and answers what sipgo would drop with
//     a stateless 400 (416, 505) built from the raw bytes, so the sender
//     learns why instead of retransmitting for 32 s. Datagrams it cannot
//     answer (responses, garbage without a Via) are dropped, as RFC 3261
//     allows for an unparseable message.
//   - rejectMalformed, a middleware before the request handlers, checks what
//     parses but must not be processed (RFC 4475 section 3): a SIP version
//     other than 2.0, header fields that may appear once appearing twice, a
//     CSeq naming another method, an unsupported URI scheme, a Require the
//     platform does not support, an INVITE body it cannot read.

// sipVersion is the only version spoken (RFC 3261 7.1).
const sipVersion = "SIP/2.0"

// malformedRate and malformedBurst bound the stateless answers screen sends
// per engine: each one is a datagram to an address the sender may have
// spoofed, so a flood of garbage is answered at most this fast and then
// dropped.
const (
	malformedRate  = 100
	malformedBurst = 200
)

// screen is the UDP read filter: it passes through every datagram sipgo can
// parse and answers or drops the rest.
type screen struct {
	conn   net.PacketConn // where stateless answers are written from
	parser *sipmsg.Parser
	bucket *tokenBucket
	log    *slog.Logger
	now    func() time.Time
}

func newScreen(conn net.PacketConn, log *slog.Logger, now func() time.Time) *screen {
	return &screen{conn: conn, parser: sipmsg.NewParser(), bucket: newBucket(malformedRate, malformedBurst), log: log, now: now}
}

// filter is a sipmsg.TransportReadFilter. It never returns an error: sipgo
// stops reading a UDP socket whose filter fails. A nil result drops the
// datagram.
func (s *screen) filter(props sipmsg.TransportReadProps, data []byte) ([]byte, error) {
	if !strings.EqualFold(props.Transport, "udp") {
		// Over a stream sipgo closes the connection on a framing error,
		// which RFC 4475 (ncl, mcl01) asks for; a stream cannot be answered
		// from here, where reads are not yet messages.
		return data, nil
	}
	if len(bytes.Trim(data, "\r\n")) == 0 {
		return data, nil // a keep-alive (RFC 5626 3.5.1)
	}
	answer, pass := s.check(data)
	if pass {
		return data, nil
	}
	if answer == nil {
		s.log.Debug("sip: unparseable datagram dropped", slog.String("source", addrString(props.RemoteAddr)))
		return nil, nil
	}
	if !s.bucket.allow(s.now()) {
		s.log.Debug("sip: malformed request not answered: answer rate spent", slog.String("source", addrString(props.RemoteAddr)))
		return nil, nil
	}
	if _, err := s.conn.WriteTo(answer, props.RemoteAddr); err != nil {
		s.log.Debug("sip: answer to a malformed request", slog.Any("error", err))
	}
	return nil, nil
}

// check decides a datagram's fate: pass it to sipgo, or drop it with the
// stateless answer to send (nil for none).
func (s *screen) check(data []byte) (answer []byte, pass bool) {
	ok, panicked := s.parses(data)
	if panicked {
		return nil, false // sipgo would panic too: never hand it over
	}
	if ok {
		// Parsed, but a Contact whose URI has headers and no <> is
		// ambiguous (RFC 3261 20.10, RFC 4475 3.1.2.13); the parsed
		// message no longer shows the brackets, so look at the bytes.
		if bareContactWithHeaders(data) {
			if req, _ := startLine(data); req.method != "" && req.method != "ACK" {
				return statelessAnswer(data, sipmsg.StatusBadRequest, "Contact URI With Headers Not In <>"), false
			}
		}
		return nil, true
	}
	code, reason := classify(data)
	if code == 0 {
		return nil, false
	}
	return statelessAnswer(data, code, reason), false
}

// parses reports whether sipgo's parser takes data, and whether it panicked
// trying.
func (s *screen) parses(data []byte) (ok, panicked bool) {
	defer func() {
		if recover() != nil {
			ok, panicked = false, true
		}
	}()
	_, err := s.parser.ParseSIP(data)
	return err == nil, false
}

// requestLine is the loosely split first line of a datagram.
type requestLine struct {
	method, uri, version string
	strict               bool // exactly METHOD SP URI SP VERSION
}

// startLine splits the first line of data. A zero method means it is not
// a request line at all (a response, or garbage).
func startLine(data []byte) (requestLine, bool) {
	end := bytes.Index(data, []byte("\r\n"))
	if end < 0 {
		return requestLine{}, false
	}
	line := string(data[:end])
	fields := strings.Fields(line)
	if len(fields) < 3 || !hasPrefixFold(fields[len(fields)-1], "SIP/") || hasPrefixFold(fields[0], "SIP/") {
		return requestLine{}, false
	}
	r := requestLine{method: strings.ToUpper(fields[0]), uri: fields[1], version: fields[len(fields)-1]}
	parts := strings.Split(line, " ")
	r.strict = len(parts) == 3 && parts[0] != "" && parts[1] != "" && isToken(parts[0])
	return r, true
}

// classify picks the answer to a request sipgo cannot parse: 505 for
// another SIP version, 416 for a well-formed Request-URI of a scheme other
// than sip, sips or tel, else 400 with what is wrong. Code 0 means no
// answer: ACKs are never answered, responses and garbage are dropped.
func classify(data []byte) (code int, reason string) {
	r, ok := startLine(data)
	if !ok || r.method == "ACK" {
		return 0, ""
	}
	if r.strict && !strings.EqualFold(r.version, sipVersion) && isSIPVersion(r.version) {
		return sipmsg.StatusVersionNotSupported, "Version Not Supported"
	}
	if r.strict {
		if scheme, ok := uriScheme(r.uri); ok && !supportedScheme(scheme) {
			return statusUnsupportedURIScheme, "Unsupported URI Scheme"
		}
	}
	line, _, _ := bytes.Cut(data, []byte("\r\n"))
	if _, err := sipmsg.ParseMessage(append(append([]byte{}, line...), "\r\n\r\n"...)); err != nil || !r.strict {
		return sipmsg.StatusBadRequest, "Malformed Request-Line"
	}
	if why := contentLengthProblem(data); why != "" {
		return sipmsg.StatusBadRequest, why
	}
	return sipmsg.StatusBadRequest, "Malformed Header Field"
}

// contentLengthProblem names what is wrong with a datagram's Content-Length
// ("" if nothing is): over UDP the body is the rest of the datagram, and a
// length that is not a number, differs between two fields or is longer than
// the rest is a framing error (RFC 3261 18.3, RFC 4475 3.1.2.2, 3.1.2.3).
func contentLengthProblem(data []byte) string {
	head, body, found := bytes.Cut(data, []byte("\r\n\r\n"))
	if !found {
		return "Incomplete Header Section"
	}
	var seen []string
	for _, l := range headerLines(head) {
		name, value, _ := strings.Cut(l, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "content-length" && name != "l" {
			continue
		}
		value = strings.TrimSpace(value)
		seen = append(seen, value)
		n, err := strconv.ParseUint(value, 10, 31)
		if err != nil {
			return "Bad Content-Length"
		}
		if int(n) > len(body) {
			return "Content-Length Exceeds Datagram"
		}
	}
	if len(seen) > 1 {
		return "Multiple Content-Length Header Fields"
	}
	return ""
}

// headerLines splits a header section (without the start line's
// successor blank line) into header fields, unfolding continuation lines.
// The start line is left out.
func headerLines(head []byte) []string {
	raw := strings.Split(string(head), "\r\n")
	if len(raw) > 0 {
		raw = raw[1:]
	}
	var out []string
	for _, l := range raw {
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(out) > 0 {
			out[len(out)-1] += " " + strings.TrimSpace(l)
			continue
		}
		out = append(out, l)
	}
	return out
}

// echoed are the header fields a response copies from its request (RFC
// 3261 8.2.6.2), by full and compact name.
var echoed = map[string]bool{"via": true, "v": true, "from": true, "f": true, "to": true, "t": true,
	"call-id": true, "i": true, "cseq": true}

// statelessAnswer builds the response to a request sipgo could not parse
// from its raw header fields: Via, From, To, Call-ID and CSeq copied as
// they came. Without a Via there is nowhere to answer, so nil.
func statelessAnswer(data []byte, code int, reason string) []byte {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %d %s\r\n", sipVersion, code, reason)
	via := false
	for _, l := range headerLines(head) {
		name, _, ok := strings.Cut(l, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || !echoed[name] {
			continue
		}
		via = via || name == "via" || name == "v"
		// The line is the sender's own; only what would end it early goes.
		b.WriteString(strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == 0 {
				return ' '
			}
			return r
		}, l))
		b.WriteString("\r\n")
	}
	if !via {
		return nil
	}
	b.WriteString("Server: MiniVoice\r\nContent-Length: 0\r\n\r\n")
	return b.Bytes()
}

// bareContactWithHeaders reports whether a Contact header field has a URI
// with headers ("?") outside angle brackets.
func bareContactWithHeaders(data []byte) bool {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	if !bytes.Contains(head, []byte("?")) {
		return false // the common case, without splitting lines
	}
	for _, l := range headerLines(head) {
		name, value, ok := strings.Cut(l, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || (name != "contact" && name != "m") {
			continue
		}
		if !strings.Contains(value, "<") && strings.Contains(value, "?") {
			return true
		}
	}
	return false
}

// rejectMalformed answers, before the dialog layer sees them, requests
// that parse but must not be processed (RFC 4475 section 3); the layers
// below assume From, To, Call-ID, CSeq and Via exist, and a request
// without them must get a SIP error, not a crash (RFC 4475 "insuf").
func rejectMalformed(next sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		// The refusal is in refuseMalformed: this frame stays on the stack
		// of every call let through, as long as the call lasts.
		if refusal := checkRequest(req); refusal != nil {
			refuseMalformed(req, tx, refusal)
			return
		}
		next(req, tx)
	}
}

// refuseMalformed answers req with refusal (rejectMalformed).
func refuseMalformed(req *sipmsg.Request, tx sipmsg.ServerTransaction, refusal *malformed) {
	if req.IsAck() {
		return // ACKs get no response
	}
	res := sipmsg.NewResponseFromRequest(req, refusal.code, refusal.reason, nil)
	res.SipVersion = sipVersion // even to a SIP/7.0 request: it is the version we speak
	for _, h := range refusal.headers {
		res.AppendHeader(h)
	}
	if req.IsInvite() {
		// An INVITE's transaction would repeat a final answer until an
		// ACK comes (ten times in 32 s over UDP) to an address that may
		// be forged, and be held all that time: the answer is written
		// once, statelessly (RFC 3261 8.2.7), and the transaction ends
		// with the handler. A retransmitted INVITE is answered anew.
		if c, ok := tx.(interface{ Connection() sipmsg.Connection }); ok {
			_ = c.Connection().WriteMsg(res)
			return
		}
	}
	_ = tx.Respond(res)
}

// malformed is what a request is refused with.
type malformed struct {
	code    int
	reason  string
	headers []sipmsg.Header
}

func refuseWith(code int, reason string, headers ...sipmsg.Header) *malformed {
	return &malformed{code: code, reason: reason, headers: headers}
}

// singleValued are header fields a request may carry once (RFC 3261 20;
// RFC 4475 3.3.8, 3.3.9).
var singleValued = []string{"Call-ID", "From", "To", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"}

// statusUnsupportedURIScheme is 416 (RFC 3261 21.4.14); sipgo names 416
// after HTTP's meaning of the number.
const statusUnsupportedURIScheme = 416

// supportedMediaType is the only body an INVITE may carry.
const supportedMediaType = "application/sdp"

// checkRequest returns why req must be refused, or nil.
func checkRequest(req *sipmsg.Request) *malformed {
	if reason := missingHeader(req); reason != "" {
		return refuseWith(sipmsg.StatusBadRequest, reason)
	}
	if !strings.EqualFold(req.SipVersion, sipVersion) {
		return refuseWith(sipmsg.StatusVersionNotSupported, "Version Not Supported")
	}
	for _, name := range singleValued {
		if len(req.GetHeaders(name)) > 1 {
			return refuseWith(sipmsg.StatusBadRequest, "Multiple "+name+" Header Fields")
		}
	}
	// sipgo upper-cases the method of the start line, not the CSeq's.
	if !strings.EqualFold(string(req.CSeq().MethodName), string(req.Method)) {
		return refuseWith(sipmsg.StatusBadRequest, "CSeq Method Does Not Match")
	}
	if !supportedScheme(req.Recipient.Scheme) {
		return refuseWith(statusUnsupportedURIScheme, "Unsupported URI Scheme")
	}
	if len(req.Recipient.Headers) > 0 {
		return refuseWith(sipmsg.StatusBadRequest, "Request-URI Has Header Fields")
	}
	if req.IsAck() || req.IsCancel() {
		return nil // Require is not for them (RFC 3261 8.2.2.3), nor are bodies
	}
	if tags := required(req); len(tags) > 0 {
		// Nothing is supported: every option-tag a request requires is
		// refused, and listed (RFC 3261 8.2.2.3).
		return refuseWith(sipmsg.StatusBadExtension, "Bad Extension", sipmsg.NewHeader("Unsupported", strings.Join(tags, ", ")))
	}
	if req.IsInvite() {
		if ct := req.ContentType(); ct != nil && len(req.Body()) > 0 && !mediaTypeIs(ct.Value(), supportedMediaType) {
			return refuseWith(sipmsg.StatusUnsupportedMediaType, "Unsupported Media Type",
				sipmsg.NewHeader("Accept", supportedMediaType))
		}
		if !acceptsSDP(req) {
			return refuseWith(sipmsg.StatusNotAcceptable, "Not Acceptable",
				sipmsg.NewHeader("Warning", `399 minivoice "answers carry application/sdp, which Accept leaves out"`))
		}
	}
	return nil
}

func missingHeader(req *sipmsg.Request) string {
	switch {
	case req.From() == nil:
		return "Missing From"
	case req.To() == nil:
		return "Missing To"
	case req.CallID() == nil:
		return "Missing Call-ID"
	case req.CSeq() == nil:
		return "Missing CSeq"
	case req.Via() == nil:
		return "Missing Via"
	}
	return ""
}

// required lists the option-tags of the request's Require header fields.
func required(req *sipmsg.Request) []string {
	var tags []string
	for _, h := range req.GetHeaders("Require") {
		for _, t := range strings.Split(h.Value(), ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	return tags
}

// acceptsSDP reports whether the INVITE's Accept header fields, if any,
// admit an SDP answer (RFC 3261 20.1; RFC 4475 3.3.15). No Accept means
// application/sdp.
func acceptsSDP(req *sipmsg.Request) bool {
	hs := req.GetHeaders("Accept")
	if len(hs) == 0 {
		return true
	}
	listed := false
	for _, h := range hs {
		for _, t := range strings.Split(h.Value(), ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			listed = true
			if mediaTypeIs(t, supportedMediaType) || mediaTypeIs(t, "application/*") || mediaTypeIs(t, "*/*") {
				return true
			}
		}
	}
	return !listed // an Accept of nothing but blanks says nothing
}

// mediaTypeIs compares a media type, parameters and case aside.
func mediaTypeIs(value, want string) bool {
	t, _, _ := strings.Cut(value, ";")
	return strings.EqualFold(strings.TrimSpace(t), want)
}

// supportedScheme reports whether a Request-URI scheme is one the platform
// routes (RFC 4475 3.3.2, 3.3.3: anything else is 416).
func supportedScheme(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "sip", "sips", "tel":
		return true
	}
	return false
}

// uriScheme returns the scheme of an absolute URI if it is well formed
// (RFC 3986 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )).
func uriScheme(uri string) (string, bool) {
	scheme, _, ok := strings.Cut(uri, ":")
	if !ok || scheme == "" || !isAlpha(scheme[0]) {
		return "", false
	}
	for i := 1; i < len(scheme); i++ {
		c := scheme[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return "", false
		}
	}
	return scheme, true
}

// isSIPVersion reports whether v has the form SIP/digits.digits.
func isSIPVersion(v string) bool {
	if !hasPrefixFold(v, "SIP/") {
		return false
	}
	major, minor, ok := strings.Cut(v[4:], ".")
	return ok && isDigits(major) && isDigits(minor)
}

// isToken reports whether s is an RFC 3261 token (25.1).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || (c >= '0' && c <= '9') || strings.IndexByte("-.!%*_+`'~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// knownMethods are the methods SIP defines (RFC 3261 and its extensions
// in the IANA registry); one the platform does not handle is 405, any other
// 501 (RFC 3261 21.4.6, 21.5.2).
var knownMethods = map[string]bool{"INVITE": true, "ACK": true, "BYE": true, "CANCEL": true, "OPTIONS": true,
	"REGISTER": true, "PRACK": true, "SUBSCRIBE": true, "NOTIFY": true, "PUBLISH": true, "INFO": true,
	"REFER": true, "MESSAGE": true, "UPDATE": true}

// unroutable answers requests of methods no handler takes: 405 with the
// Allow header RFC 3261 21.4.6 requires for a method SIP defines (the
// platform is no registrar, so REGISTER is one), 501 for any other.
func unroutable(srv *sipgo.Server) sipgo.RequestHandler {
	return func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if req.IsAck() {
			return
		}
		if !knownMethods[strings.ToUpper(string(req.Method))] {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusNotImplemented, "Not Implemented", nil))
			return
		}
		methods := srv.RegisteredMethods()
		slices.Sort(methods)
		res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusMethodNotAllowed, "Method Not Allowed", nil)
		res.AppendHeader(sipmsg.NewHeader("Allow", strings.Join(methods, ", ")))
		_ = tx.Respond(res)
	}
}
