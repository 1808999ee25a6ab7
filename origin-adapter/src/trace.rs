//! W3C Trace Context `traceparent` (version 00): the one trace id an edge
//! request and the origin work it causes share, so their logs line up.

/// A parsed `traceparent`: which trace, which span is the parent, sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub flags: u8,
}

fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    // The specification allows lowercase hex only.
    if text.len() != N * 2 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// `bytes` as lower-case hexadecimal, two digits a byte: trace context's
/// form, and every id and nonce the edge and its objects make.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Bytes, not `write!`: this runs for every request's ids.
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
    String::from_utf8(out).unwrap_or_default()
}

impl TraceParent {
    /// Parses a header value; `None` for anything the specification says to
    /// ignore (then a new trace starts).
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let version = hex::<1>(value.get(0..2)?)?[0];
        // Version ff is forbidden; 00 has exactly four fields; a later
        // version may append fields after a dash, which are ignored.
        if version == 0xff
            || (version == 0 && value.len() != 55)
            || (version > 0 && value.len() > 55 && value.as_bytes()[55] != b'-')
        {
            return None;
        }
        let bytes = value.as_bytes();
        if bytes.get(2) != Some(&b'-')
            || bytes.get(35) != Some(&b'-')
            || bytes.get(52) != Some(&b'-')
        {
            return None;
        }
        let trace_id = hex::<16>(value.get(3..35)?)?;
        let parent_id = hex::<8>(value.get(36..52)?)?;
        let flags = hex::<1>(value.get(53..55)?)?[0];
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Continues `incoming` (or starts a trace from `fresh_trace_id`) with
    /// `span_id` as the new parent: what the edge sends to an origin.
    pub fn child_of(incoming: Option<Self>, fresh_trace_id: [u8; 16], span_id: [u8; 8]) -> Self {
        let mut span_id = span_id;
        if span_id == [0; 8] {
            span_id[7] = 1;
        }
        match incoming {
            Some(parent) => Self {
                trace_id: parent.trace_id,
                parent_id: span_id,
                flags: parent.flags & 0x01,
            },
            None => {
                let mut trace_id = fresh_trace_id;
                if trace_id == [0; 16] {
                    trace_id[15] = 1;
                }
                Self {
                    trace_id,
                    parent_id: span_id,
                    flags: 0x01,
                }
            }
        }
    }

    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }

    pub fn parent_id_hex(&self) -> String {
        to_hex(&self.parent_id)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            self.parent_id_hex(),
            self.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example from the W3C Trace Context recommendation, §3.2.
    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        assert_eq!(to_hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(to_hex(&[]), "");
    }

    #[test]
    fn the_specification_example_round_trips() {
        let t = TraceParent::parse(EXAMPLE).unwrap();
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_id_hex(), "00f067aa0ba902b7");
        assert_eq!(t.flags, 1);
        assert_eq!(t.to_string(), EXAMPLE);
    }

    #[test]
    fn invalid_values_are_ignored() {
        for bad in [
            "",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        // A later version may carry more fields; the known prefix is used.
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what")
                .is_some()
        );
    }

    #[test]
    fn a_child_keeps_the_trace_and_replaces_the_parent() {
        let incoming = TraceParent::parse(EXAMPLE);
        let child = TraceParent::child_of(incoming, [9; 16], [7; 8]);
        assert_eq!(child.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(child.parent_id, [7; 8]);
        let fresh = TraceParent::child_of(None, [9; 16], [0; 8]);
        assert_eq!(fresh.trace_id, [9; 16]);
        assert_ne!(fresh.parent_id, [0; 8], "an all-zero id is invalid");
        assert_eq!(TraceParent::parse(&fresh.to_string()), Some(fresh));
    }
}
