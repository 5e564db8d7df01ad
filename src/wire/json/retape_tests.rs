//! `retape` against the parser: whenever it answers, its tape is the parser's, byte for
//! byte; it answers for the streams providers send; and it gives up whenever the parser
//! would fail or the structure changed.

use super::super::tape::parse_tape;
use super::*;

const CHUNK: &str = r#"{"id":"chatcmpl-9lMgfRSWPHcw51s6wxKT1YEO2CKpd","object":"chat.completion.chunk","created":1721075653,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_e9b8ed65d2","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"obfuscation":"u3T"}"#;
const GEMINI: &str = r#"{"candidates":[{"content":{"parts":[{"text":"Hello! \"Quoted\" line\nand a tab\t\u00e9 here."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":12,"totalTokenCount":17,"scores":[0.5,-1.25e-3]},"modelVersion":"gemini-1.5-flash"}"#;
const NESTED: &str = r#" { "a" : [ 1 , -2.5e3 , "x\"y" , { "b" : [ ] , "c" : { } } ] , "d" : true , "e" : null , "f" : "" } "#;

fn tape(text: &[u8]) -> Option<Vec<Node>> {
    parse_tape(text).ok()
}

/// The root object's members as (key, value kind, value text unless a container, the
/// value's node).
type Member<'a> = (&'a [u8], Kind, &'a [u8], u32);

fn root_members<'a>(text: &'a [u8], nodes: &[Node]) -> Vec<Member<'a>> {
    if nodes[0].kind != Kind::Object {
        return Vec::new();
    }
    let raw = |i: usize| &text[nodes[i].start as usize..nodes[i].end as usize];
    let mut out = Vec::new();
    let mut key = 1;
    for _ in 0..nodes[0].len {
        let value = &nodes[key + 1];
        let scalar = !matches!(value.kind, Kind::Array | Kind::Object);
        let text = if scalar { raw(key + 1) } else { b"" };
        out.push((raw(key), value.kind, text, key as u32 + 1));
        key = value.next as usize;
    }
    out
}

/// `retape(old, new)` is `None` or exactly the parser's tape of `new`; and `None` when the
/// parser rejects `new`. When it says no key of the root changed, the root's keys are the
/// same bytes, and so are its scalar values but the ones it names. Returns whether it
/// answered.
fn check(old: &[u8], new: &[u8]) -> bool {
    let old_nodes = tape(old).expect("a valid previous document");
    let ours = retape(old, &old_nodes, new);
    let mut rewritten = old_nodes.clone();
    let mut root = RootChanges::default();
    let answered = retape_in_place(old, &mut rewritten, new, &mut root);
    assert_eq!(answered.is_some(), ours.is_some());
    if answered.is_some() && !root.key {
        let changed = &root.values[..root.len];
        let unchanged = |text, nodes| {
            let mut members = root_members(text, nodes);
            for m in &mut members {
                if changed.contains(&m.3) {
                    // A string read again stays a string; a number, a number.
                    m.1 = if m.1 == Kind::Str {
                        Kind::Str
                    } else {
                        Kind::Int
                    };
                    m.2 = b"(changed)";
                }
            }
            members
        };
        assert_eq!(
            unchanged(old, &old_nodes),
            unchanged(new, &rewritten),
            "root: {:?} -> {:?}",
            String::from_utf8_lossy(old),
            String::from_utf8_lossy(new)
        );
    }
    match (&ours, tape(new)) {
        (None, _) => false,
        (Some(ours), Some(theirs)) => {
            assert_eq!(
                ours,
                &theirs,
                "{:?} -> {:?}",
                String::from_utf8_lossy(old),
                String::from_utf8_lossy(new)
            );
            true
        }
        (Some(_), None) => panic!(
            "retape answered for a text the parser rejects: {:?} -> {:?}",
            String::from_utf8_lossy(old),
            String::from_utf8_lossy(new)
        ),
    }
}

#[test]
fn answers_for_changed_strings_and_numbers() {
    let changed = [
        // The content, longer and shorter, and OpenAI's pad with it.
        CHUNK.replace(r#"" world""#, r#""Hello there""#),
        CHUNK.replace(r#"" world""#, r#""""#),
        CHUNK
            .replace(r#"" world""#, r#""!""#)
            .replace(r#""u3T""#, r#""Zk91mQa""#),
        // Escapes appear and go.
        CHUNK.replace(r#"" world""#, r#""a\"b\\c\u00e9\n""#),
        // A number grows, turns float, turns negative.
        CHUNK.replace("1721075653", "17210756530"),
        CHUNK.replace(r#""index":0"#, r#""index":1.5e-3"#),
        CHUNK.replace(r#""index":0"#, r#""index":-7"#),
        // A key.
        CHUNK.replace(r#""content""#, r#""reasoning_content""#),
        // The same text.
        CHUNK.to_string(),
    ];
    for new in &changed {
        assert!(check(CHUNK.as_bytes(), new.as_bytes()), "{new}");
    }
    let gemini = GEMINI
        .replace(
            r#"Hello! \"Quoted\" line\nand a tab\t\u00e9 here."#,
            "plain",
        )
        .replace(
            r#""candidatesTokenCount":12"#,
            r#""candidatesTokenCount":130"#,
        )
        .replace(r#""totalTokenCount":17"#, r#""totalTokenCount":135"#);
    assert!(check(GEMINI.as_bytes(), gemini.as_bytes()));
    assert!(check(gemini.as_bytes(), GEMINI.as_bytes()));
    let nested = NESTED
        .replace("-2.5e3", "7")
        .replace(r#""x\"y""#, r#""""#)
        .replace(r#""f" : """#, r#""f" : "long""#);
    assert!(check(NESTED.as_bytes(), nested.as_bytes()));
    // What changed at the root.
    let deep = CHUNK.replace(r#"" world""#, r#""Hello""#);
    let mut last = LastTape::default();
    assert_eq!(last.changed_root_values(), None);
    last.tape(CHUNK).unwrap();
    assert_eq!(last.changed_root_values(), None);
    last.tape(&deep).unwrap();
    assert_eq!(last.changed_root_values(), Some(&[][..]));
    let nodes = tape(CHUNK.as_bytes()).unwrap();
    let members = root_members(CHUNK.as_bytes(), &nodes);
    let value_of = |key: &str| members.iter().find(|m| m.0 == key.as_bytes()).unwrap().3;
    let (created, obfuscation) = (value_of("created"), value_of("obfuscation"));
    for (root, values) in [
        (CHUNK.replace("1721075653", "1721075654"), vec![created]),
        (CHUNK.replace(r#""u3T""#, r#""u3""#), vec![obfuscation]),
        (
            deep.replace("1721075653", "9").replace("u3T", "x"),
            vec![created, obfuscation],
        ),
    ] {
        last.tape(CHUNK).unwrap();
        last.tape(&root).unwrap();
        assert_eq!(last.changed_root_values(), Some(&values[..]), "{root}");
    }
    last.tape(CHUNK).unwrap();
    last.tape(&CHUNK.replace(r#""object""#, r#""objects""#))
        .unwrap();
    assert_eq!(last.changed_root_values(), None);
    // Parsed whole: nothing to compare with.
    last.tape(r#"{"a":[1]}"#).unwrap();
    assert_eq!(last.changed_root_values(), None);
    // A document that is one token.
    assert!(check(b"12", b"123"));
    assert!(check(b"123", b"12"));
    assert!(check(br#""ab""#, br#""a\"b""#));
}

#[test]
fn gives_up_when_the_structure_changes() {
    for new in [
        CHUNK.replace(
            r#"{"content":" world"}"#,
            r#"{"content":" world","refusal":null}"#,
        ),
        CHUNK.replace(r#"{"content":" world"}"#, "{}"),
        CHUNK.replace(r#""finish_reason":null"#, r#""finish_reason":"stop""#),
        CHUNK.replace(r#""logprobs":null"#, r#""logprobs":true"#),
        CHUNK.replace(r#""index":0"#, r#""index": 0"#),
        CHUNK.replace(r#""index":0"#, r#""index":"0""#),
        format!("{CHUNK} "),
        format!(" {CHUNK}"),
        CHUNK.replace(r#"" world""#, r#"" wor"ld""#),
    ] {
        assert!(!check(CHUNK.as_bytes(), new.as_bytes()), "{new}");
    }
    // Nothing to read against.
    assert_eq!(retape(b"", &[], CHUNK.as_bytes()), None);
    // More changed tokens than it follows.
    let many = |v: u32| {
        let items: Vec<String> = (0..20).map(|i| (i * 10 + v).to_string()).collect();
        format!("[{}]", items.join(","))
    };
    assert!(!check(many(1).as_bytes(), many(2).as_bytes()));
}

/// Every one-byte edit (replace, insert, delete) of each document, with bytes chosen to
/// hit every decision: quotes, escapes, digits and number syntax, punctuation, whitespace,
/// control bytes, non-ASCII.
#[test]
fn every_one_byte_edit_agrees_with_the_parser() {
    const BYTES: &[u8] = b"\"\\/u0123456789abefAE.+-,:{}[] \n\t\x01\x1f\xc3\xa9tnrl";
    let mut answered = 0;
    let mut edits = 0;
    for old in [
        CHUNK,
        GEMINI,
        NESTED,
        "12",
        r#""ab""#,
        "[]",
        r#"{"a":"\u00e9"}"#,
    ] {
        let old = old.as_bytes();
        for at in 0..=old.len() {
            let mut variants = Vec::new();
            if at < old.len() {
                let mut deleted = old.to_vec();
                deleted.remove(at);
                variants.push(deleted);
            }
            for &b in BYTES {
                let mut inserted = old.to_vec();
                inserted.insert(at, b);
                variants.push(inserted);
                if at < old.len() {
                    let mut replaced = old.to_vec();
                    replaced[at] = b;
                    variants.push(replaced);
                }
            }
            for new in variants {
                edits += 1;
                answered += check(old, &new) as usize;
            }
        }
    }
    // It must answer for a good share (the edits inside strings and numbers), not only
    // give up.
    assert!(answered * 4 > edits, "answered {answered} of {edits}");
}

/// Two and three edits at once, at pseudo-random places (a fixed sequence).
#[test]
fn several_edits_agree_with_the_parser() {
    const BYTES: &[u8] = b"\"\\u0a9.e-,}] \x01x";
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |below: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as usize
    };
    let mut answered = 0;
    for old in [CHUNK, GEMINI, NESTED] {
        let old = old.as_bytes();
        for _ in 0..20_000 {
            let mut new = old.to_vec();
            for _ in 0..2 + next(2) {
                let at = next(new.len());
                match next(3) {
                    0 => new[at] = BYTES[next(BYTES.len())],
                    1 => new.insert(at, BYTES[next(BYTES.len())]),
                    _ => {
                        new.remove(at);
                    }
                }
            }
            answered += check(old, &new) as usize;
        }
    }
    assert!(answered > 5_000, "answered {answered}");
}

/// Consecutive payloads of the recorded provider streams: every tape is the parser's, and
/// most chunks are read against the one before.
#[test]
fn recorded_streams_agree_with_the_parser() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut files: Vec<_> = ["wire", "recorded"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(format!("{dir}/{sub}")).expect("fixtures"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sse"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let (mut payloads, mut answered) = (0, 0);
    for path in files {
        let text = std::fs::read_to_string(&path).expect("a fixture");
        let mut last: Option<String> = None;
        for data in data_payloads(&text) {
            if let Some(old) = &last {
                payloads += 1;
                answered += check(old.as_bytes(), data.as_bytes()) as usize;
            }
            if tape(data.as_bytes()).is_some() {
                last = Some(data);
            }
        }
    }
    assert!(payloads > 50, "{payloads}");
    assert!(answered * 2 > payloads, "answered {answered} of {payloads}");
}

/// The `data` of each event of an SSE text, as the project's decoder reads it.
fn data_payloads(text: &str) -> Vec<String> {
    let mut decoder = crate::wire::sse::Decoder::new(1 << 20);
    let mut events = Vec::new();
    decoder.feed(text.as_bytes(), &mut events);
    events
        .into_iter()
        .map(|e| e.expect("a fixture decodes").data)
        .collect()
}

#[test]
fn last_tape_keeps_small_documents_only() {
    let mut last = LastTape::default();
    let first = last.tape(CHUNK).unwrap();
    assert_eq!(first, tape(CHUNK.as_bytes()).unwrap());
    let next = CHUNK.replace(" world", "!");
    assert_eq!(last.tape(&next).unwrap(), tape(next.as_bytes()).unwrap());
    assert_eq!(last.text, next);
    // An error is the parser's, and nothing is kept (a stream ends at one).
    let bad = CHUNK.replace(" world\"", " world");
    assert_eq!(last.tape(&bad), Doc::tape(&bad));
    assert!(last.text.is_empty() && last.nodes.is_empty());
    assert_eq!(last.tape(&next).unwrap(), tape(next.as_bytes()).unwrap());
    // Read against the one before, it is the parser's too.
    assert_eq!(last.tape(CHUNK).unwrap(), tape(CHUNK.as_bytes()).unwrap());
    assert_eq!(last.text, CHUNK);
    // A large document is read but not kept.
    let large = format!(r#"{{"content":"{}"}}"#, "x".repeat(MAX_KEPT_TEXT));
    assert_eq!(last.tape(&large).unwrap(), tape(large.as_bytes()).unwrap());
    assert!(last.text.is_empty() && last.nodes.is_empty());
    // Nor a long tape, and neither leaves its size behind.
    let long = format!("[{}1]", "1,".repeat(MAX_KEPT_NODES));
    assert_eq!(last.tape(&long).unwrap(), tape(long.as_bytes()).unwrap());
    assert!(last.text.is_empty() && last.nodes.is_empty());
    let long = format!("[{}1]", "1,".repeat(100_000));
    last.tape(&long).unwrap();
    last.tape(CHUNK).unwrap();
    assert!(last.nodes.capacity() <= 2 * MAX_KEPT_NODES);
    assert!(last.text.capacity() <= 2 * MAX_KEPT_TEXT);
}

#[test]
fn same_prefix_counts_leading_equal_bytes() {
    let a: Vec<u8> = (0..100u8).collect();
    for at in 0..100 {
        let mut b = a.clone();
        b[at] ^= 0x80;
        assert_eq!(same_prefix(&a, &b), at);
        assert_eq!(same_prefix(&a[..at], &b), at);
    }
    assert_eq!(same_prefix(&a, &a), 100);
    assert_eq!(same_prefix(&a, &[]), 0);
}
