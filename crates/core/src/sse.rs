//! Incremental Server-Sent Events decoding, per the WHATWG event-stream rules.
//!
//! Bytes arrive in arbitrary pieces: a line, a `\r\n` pair or a UTF-8 character may be split
//! between two chunks. The decoder keeps only the unfinished line and the event being built, so
//! memory is bounded by the longest line, and the events it yields never depend on where the
//! stream was split.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field, or `"message"` when absent.
    pub event: &'a str,
    /// The `data:` lines joined by `\n`.
    pub data: &'a str,
}

/// Incremental decoder. Feed chunks in order; events are handed to a callback as they complete.
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one is its pair.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk, calling `on_event` for every event it completes.
    pub fn feed(&mut self, chunk: &[u8], on_event: &mut dyn FnMut(SseEvent<'_>)) {
        if chunk.is_empty() {
            return;
        }
        let mut rest = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(i) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..i]);
            let was_cr = rest[i] == b'\r';
            rest = &rest[i + 1..];
            if was_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            self.end_line(on_event);
        }
        self.line.extend_from_slice(rest);
    }

    /// Ends the stream: a last event without its blank line is dispatched.
    pub fn finish(&mut self, on_event: &mut dyn FnMut(SseEvent<'_>)) {
        if !self.line.is_empty() {
            self.end_line(on_event);
        }
        self.end_line(on_event);
    }

    fn end_line(&mut self, on_event: &mut dyn FnMut(SseEvent<'_>)) {
        if self.line.is_empty() {
            if self.has_data {
                let event = if self.event.is_empty() {
                    "message"
                } else {
                    self.event.as_str()
                };
                on_event(SseEvent {
                    event,
                    data: &self.data,
                });
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        let line = String::from_utf8_lossy(&self.line);
        let (field, value) = match line.find(':') {
            Some(0) => {
                self.line.clear();
                return;
            }
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&line[..], ""),
        };
        match field {
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
        self.line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        let mut push = |e: SseEvent<'_>| out.push((e.event.to_owned(), e.data.to_owned()));
        for c in chunks {
            d.feed(c, &mut push);
        }
        d.finish(&mut push);
        out
    }

    const STREAM: &[u8] = b": comment\r\nevent: a\r\ndata: {\"x\":\"h\xc3\xa9\"}\r\n\r\ndata:one\ndata: two\n\nevent:b\rdata: 3\r\rdata: tail";

    #[test]
    fn decodes_fields_and_line_endings() {
        assert_eq!(
            decode(&[STREAM]),
            vec![
                ("a".into(), "{\"x\":\"hé\"}".into()),
                ("message".into(), "one\ntwo".into()),
                ("b".into(), "3".into()),
                ("message".into(), "tail".into()),
            ]
        );
    }

    #[test]
    fn every_two_way_split_is_identical() {
        let whole = decode(&[STREAM]);
        for i in 0..=STREAM.len() {
            assert_eq!(decode(&[&STREAM[..i], &STREAM[i..]]), whole, "split at {i}");
        }
    }

    proptest! {
        #[test]
        fn any_partition_is_identical(cuts in proptest::collection::vec(0..STREAM.len(), 0..12)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for c in cuts {
                pieces.push(&STREAM[last..c]);
                last = c;
            }
            pieces.push(&STREAM[last..]);
            prop_assert_eq!(decode(&pieces), decode(&[STREAM]));
        }
    }
}
