//! Writing server-sent events: the inverse of the decoder, for re-streaming.

/// Why an event could not be encoded.
#[derive(Debug, PartialEq, Eq)]
pub struct EncodeError(pub String);

/// Appends one event. Multi-line data becomes several `data:` lines (any of
/// CRLF, CR, LF ends a line, as the decoder reads them); `event` and `id`
/// may not contain a line break (that would inject fields), nor `id` a NUL.
pub fn encode_event(
    out: &mut Vec<u8>,
    data: &str,
    event: Option<&str>,
    id: Option<&str>,
    retry: Option<u64>,
) -> Result<(), EncodeError> {
    if let Some(e) = event {
        if e.contains(['\r', '\n']) {
            return Err(EncodeError(format!(
                "event type {e:?} contains a line break"
            )));
        }
    }
    if let Some(i) = id {
        if i.contains(['\r', '\n', '\0']) {
            return Err(EncodeError(format!(
                "event id {i:?} contains a line break or NUL"
            )));
        }
    }
    if let Some(e) = event.filter(|e| !e.is_empty()) {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(e.as_bytes());
        out.push(b'\n');
    }
    if let Some(i) = id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(i.as_bytes());
        out.push(b'\n');
    }
    if let Some(r) = retry {
        out.extend_from_slice(format!("retry: {r}\n").as_bytes());
    }
    let mut rest = data;
    loop {
        let cut = rest.find(['\r', '\n']);
        let line = &rest[..cut.unwrap_or(rest.len())];
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        match cut {
            None => break,
            Some(i) => {
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
        }
    }
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sse::Decoder;

    fn enc(data: &str, event: Option<&str>, id: Option<&str>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_event(&mut out, data, event, id, None).unwrap();
        out
    }

    #[test]
    fn round_trips_through_the_decoder() {
        for data in [
            "",
            "x",
            "a\nb",
            "a\r\nb\rc",
            "\n",
            "trailing\n",
            " leading space",
            ":colon",
        ] {
            for event in [None, Some("update")] {
                let bytes = enc(data, event, Some("7"));
                let mut d = Decoder::default();
                let mut out = Vec::new();
                d.feed(&bytes, &mut out);
                let ev = out.pop().unwrap().unwrap();
                let want = data.replace("\r\n", "\n").replace('\r', "\n");
                assert_eq!(ev.data, want, "{data:?}");
                assert_eq!(ev.event_type(), event.unwrap_or("message"));
                assert_eq!(&*ev.id, "7");
            }
        }
    }

    #[test]
    fn exact_bytes_and_injection() {
        assert_eq!(
            enc("a\nb", Some("e"), None),
            b"event: e\ndata: a\ndata: b\n\n"
        );
        let mut out = Vec::new();
        assert!(encode_event(&mut out, "x", Some("a\ndata: evil"), None, None).is_err());
        assert!(encode_event(&mut out, "x", None, Some("1\r"), None).is_err());
        assert!(encode_event(&mut out, "x", None, Some("1\0"), None).is_err());
        assert!(out.is_empty());
        encode_event(&mut out, "x", None, None, Some(1500)).unwrap();
        assert_eq!(out, b"retry: 1500\ndata: x\n\n");
    }
}
