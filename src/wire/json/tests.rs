//! The tape parser against RFC 8259, case by case.

use super::*;

mod reference;

fn doc(s: &str) -> Doc {
    Doc::parse(s.to_string()).unwrap()
}

fn err(s: &str) -> JsonError {
    Doc::parse(s.to_string()).unwrap_err()
}

#[test]
fn scalars() {
    for (s, k) in [
        ("null", Kind::Null),
        ("true", Kind::True),
        ("false", Kind::False),
        ("0", Kind::Int),
        ("-12", Kind::Int),
        ("1.5", Kind::Float),
        ("1e5", Kind::Float),
        ("-0.0E-2", Kind::Float),
        ("\"x\"", Kind::Str),
        (" [] ", Kind::Array),
        ("{}", Kind::Object),
    ] {
        assert_eq!(doc(s).node(0).kind, k, "{s}");
    }
}

#[test]
fn object_navigation() {
    let d = doc(r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null,"a":1,"a":2}"#);
    let choices = d.get(0, "choices").unwrap();
    assert_eq!(d.node(choices).kind, Kind::Array);
    assert_eq!(d.node(choices).len, 1);
    let first = d.elements(choices).next().unwrap();
    let delta = d.get(first, "delta").unwrap();
    let content = d.get(delta, "content").unwrap();
    assert_eq!(d.str_value(content).unwrap(), "Hi");
    assert_eq!(d.node(d.get(0, "usage").unwrap()).kind, Kind::Null);
    assert_eq!(d.raw(d.get(0, "a").unwrap()), "2");
    assert_eq!(d.node(0).len, 4);
    assert_eq!(d.json_text(delta), r#"{"content":"Hi"}"#);
    assert_eq!(d.json_text(content), r#""Hi""#);
    assert!(d.get(0, "missing").is_none());
}

#[test]
fn escapes() {
    let d = doc(r#"{"k\u0065y":"a\n\"b\" \u00e9 \ud83d\ude00 \/"}"#);
    let v = d.get(0, "key").unwrap();
    assert_eq!(d.str_value(v).unwrap(), "a\n\"b\" é 😀 /");
    let lone = doc(r#""\ud800""#);
    assert!(lone.str_value(0).is_none());
}

#[test]
fn long_strings_use_word_skipping() {
    let body = "abcdefgh".repeat(20);
    let d = doc(&format!("[\"{body}\",\"{body}\\n\"]"));
    let els: Vec<u32> = d.elements(0).collect();
    assert_eq!(d.str_value(els[0]).unwrap(), body);
    assert_eq!(d.str_value(els[1]).unwrap(), format!("{body}\n"));
}

#[test]
fn rejects_invalid() {
    for s in [
        "",
        " ",
        "{",
        "[",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "01",
        "1.",
        ".5",
        "1e",
        "-",
        "+1",
        "tru",
        "nul",
        "\"abc",
        "\"\\x\"",
        "\"\\u12\"",
        "\"a\nb\"",
        "[1 2]",
        "{} {}",
        "NaN",
        "Infinity",
        "[\"\t\"]",
        "{\"a\":}",
    ] {
        assert!(Doc::parse(s.to_string()).is_err(), "{s:?} should fail");
    }
    assert_eq!(err("[1,]").position, 3);
    assert_eq!(
        err("{\"a\":1} x").message,
        "extra data after the JSON value"
    );
}

#[test]
fn depth_limit() {
    let deep = "[".repeat(MAX_DEPTH + 1) + "1" + &"]".repeat(MAX_DEPTH + 1);
    assert_eq!(err(&deep).message, "JSON nested too deeply");
    let ok = "[".repeat(MAX_DEPTH) + "1" + &"]".repeat(MAX_DEPTH);
    assert!(Doc::parse(ok).is_ok());
}

#[test]
fn agrees_with_serde_json_on_validity() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 3000,
        ..Default::default()
    });
    let atoms = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("\"a\"".to_string()),
        Just("\"\\u00e9\\n\"".to_string()),
        Just("1".to_string()),
        Just("-2.5e3".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just(" ".to_string()),
        "[a-z0-9\"\\\\ .:,{}\\[\\]-]{0,3}",
    ];
    runner
        .run(&prop::collection::vec(atoms, 0..16), |parts| {
            let s = parts.concat();
            let ours = Doc::parse(s.clone()).is_ok();
            // serde_json refuses numbers beyond f64 ("-2.5e311"); json.loads (our
            // reference) reads them as infinities, and so do we.
            let theirs = match serde_json::from_str::<serde_json::Value>(&s) {
                Ok(_) => true,
                Err(e) if e.to_string().contains("number out of range") => return Ok(()),
                Err(_) => false,
            };
            prop_assert_eq!(ours, theirs, "{:?}", s);
            Ok(())
        })
        .unwrap();
}

/// Documents the providers send, in the shapes that matter to the parser: short keys,
/// long strings, escapes, nesting, numbers of every form, empty containers.
const SAMPLES: &[&str] = &[
    r#"{"id":"chatcmpl-9lMgfRSWPHcw51s6wxKT1YEO2CKpd","object":"chat.completion.chunk","created":1721075653,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_e9b8ed65d2","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}]}"#,
    r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"total_tokens":60,"details":{"cached_tokens":0}}}"#,
    r#"{"candidates":[{"content":{"parts":[{"text":"Hello! \"Quoted\" line\nand a tab\t\u00e9 \ud83d\ude00 here."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"scores":[0.5,-1.25e-3,1E+2,-0,0.0]},"modelVersion":"gemini-1.5-flash"}"#,
    "[true,false,null,[],{},[[]],{\"a\":{}},\"\",-1e5,12345678901234567890]",
    " {\n  \"a\" : [ 1 , 2 ] ,\r\n\t\"b\":{ } , \"c\" :\"x\" }\n",
];

/// Every way the generated documents below break or bend a sample: bytes removed,
/// replaced by every byte that matters to JSON, and whitespace or a NUL inserted.
fn variants(doc: &str) -> Vec<String> {
    const BYTES: &[u8] = b" \t\n\r\x00\x01\x1f\"\\/{}[]:,.-+0123456789eEtrufalsnbx";
    let b = doc.as_bytes();
    let mut out = Vec::new();
    let mut add = |v: Vec<u8>| {
        if let Ok(s) = String::from_utf8(v) {
            out.push(s);
        }
    };
    for i in 0..=b.len() {
        add(b[..i].to_vec());
        add([&b[..i], &b[(i + 1).min(b.len())..]].concat());
        for &c in BYTES {
            add([&b[..i], &[c], &b[(i + 1).min(b.len())..]].concat());
            add([&b[..i], &[c], &b[i..]].concat());
        }
    }
    out
}

fn assert_same(doc: &str) {
    assert_eq!(
        parse_tape(doc.as_bytes()),
        reference::parse_tape(doc.as_bytes()),
        "{doc:?}"
    );
}

#[test]
fn tape_matches_reference_parser() {
    let mut docs = 0;
    for sample in SAMPLES {
        assert!(Doc::parse(sample.to_string()).is_ok(), "{sample}");
        for v in variants(sample) {
            assert_same(&v);
            docs += 1;
        }
    }
    assert!(docs > 50_000, "{docs}");
}

#[test]
fn tape_matches_reference_at_the_depth_limit() {
    for depth in [1, 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2] {
        for (open, close) in [
            ("[", "]"),
            ("{\"k\":", "}"),
            ("[ ", " ]"),
            ("{ \"k\" : ", " }"),
        ] {
            let head = open.repeat(depth);
            let tail = close.repeat(depth);
            for inner in ["1", "[]", "{}", "[1]", "{\"a\":1}", "", "x", " "] {
                assert_same(&format!("{head}{inner}{tail}"));
                assert_same(&format!("{head}{inner}"));
            }
        }
    }
    // Empty containers do not count towards the depth: only open ones do.
    let ok = "[".repeat(MAX_DEPTH) + "[]" + &"]".repeat(MAX_DEPTH);
    assert!(Doc::parse(ok).is_ok());
    let deep = "[".repeat(MAX_DEPTH) + "[1]" + &"]".repeat(MAX_DEPTH);
    assert_eq!(
        err(&deep),
        JsonError {
            position: MAX_DEPTH + 1,
            message: "JSON nested too deeply"
        }
    );
}

#[test]
fn tape_matches_reference_with_whitespace_everywhere() {
    for sample in SAMPLES {
        // Whitespace of every kind between all bytes outside strings (inside them, where
        // it is invalid for the control bytes, so both must agree on the error).
        for ws in [" ", "\t", "\n", "\r", " \r\n\t "] {
            let spread: String = sample.chars().map(|c| format!("{c}{ws}")).collect();
            assert_same(&spread);
            assert_same(&format!("{ws}{spread}"));
        }
    }
}

#[test]
fn tape_matches_reference_on_strings_and_numbers_of_every_length() {
    // Every length across the 16- and 8-byte steps of the string scan and the digit scan,
    // each special byte at every offset, the value last in the document or not (and far
    // from its end, so that the 16-byte step, not the 8-byte one, finds the byte that
    // `scan` returns; a NUL byte is returned as the end is, and must still be refused).
    let pad = "p".repeat(24);
    for len in 0..40 {
        let body = "abcdefghijklmnopqrstuvwxyz0123456789ABCD"[..len].to_string();
        for at in 0..=len {
            for special in [
                "\"", "\\", "\\n", "\\u00e9", "\\u00", "\u{1}", "\u{1f}", "é", "\\x", "\u{0}",
                "\u{7f}",
            ] {
                let s = format!("{}{special}{}", &body[..at], &body[at..]);
                assert_same(&format!("\"{s}\""));
                assert_same(&format!("[\"{s}\",\"{pad}\"]"));
                assert_same(&format!("[\"{s}\"]"));
                assert_same(&format!("{{\"{s}\":1}}"));
                assert_same(&format!("\"{s}"));
            }
        }
        let digits = "1234567890".repeat(4)[..len].to_string();
        for n in [
            digits.clone(),
            format!("-{digits}"),
            format!("1{digits}.5e{digits}"),
            format!("0.{digits}"),
            format!("1{digits}x"),
            format!("1.{digits}E+"),
        ] {
            assert_same(&n);
            assert_same(&format!("[{n}]"));
            assert_same(&format!("[{n},1]"));
        }
    }
}

#[test]
fn every_error_at_its_byte() {
    for (doc, position, message) in [
        ("", 0, "expecting value, found end of input"),
        ("  ", 2, "expecting value, found end of input"),
        ("[", 1, "unexpected end of input"),
        ("[1,", 3, "unexpected end of input"),
        ("{\"a\":", 5, "unexpected end of input"),
        ("[\u{0}]", 1, "expecting value"),
        ("[1,]", 3, "expecting value"),
        ("tru", 0, "expecting value"),
        ("[nul]", 1, "expecting value"),
        ("-", 1, "expecting value"),
        ("[-x]", 2, "expecting value"),
        ("1.", 2, "expecting digits after the decimal point"),
        ("1.e5", 2, "expecting digits after the decimal point"),
        ("1e", 2, "expecting digits in the exponent"),
        ("[1E+]", 4, "expecting digits in the exponent"),
        ("{", 1, "expecting property name enclosed in double quotes"),
        (
            "{ 1:2}",
            2,
            "expecting property name enclosed in double quotes",
        ),
        (
            "{\"a\":1, }",
            8,
            "expecting property name enclosed in double quotes",
        ),
        ("{\"a\" 1}", 5, "expecting ':' delimiter"),
        ("{\"a\"", 4, "expecting ':' delimiter"),
        ("{\"a\":1 \"b\"}", 7, "expecting ',' or '}'"),
        ("{\"a\":1", 6, "expecting ',' or '}'"),
        ("[1 2]", 3, "expecting ',' or ']'"),
        ("[1}", 2, "expecting ',' or ']'"),
        ("[\"ab", 1, "unterminated string"),
        ("[\"ab\\\"", 1, "unterminated string"),
        ("\"a\\x\"", 2, "invalid \\escape"),
        ("\"a\\", 2, "invalid \\escape"),
        ("\"a\\u12\"", 2, "invalid \\uXXXX escape"),
        ("\"a\\u12", 2, "invalid \\uXXXX escape"),
        ("\"a\\u12G4\"", 2, "invalid \\uXXXX escape"),
        ("\"abc\u{1f}\"", 4, "invalid control character in string"),
        ("\"a\\n\tb\"", 4, "invalid control character in string"),
        ("{} {}", 3, "extra data after the JSON value"),
        ("01", 1, "extra data after the JSON value"),
    ] {
        assert_eq!(err(doc), JsonError { position, message }, "{doc:?}");
        assert_same(doc);
    }
}

#[test]
fn same_bytes_agrees_with_slice_equality_at_every_length_and_position() {
    let a: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
    for n in 0..=a.len() {
        let x = &a[..n];
        assert!(same_bytes(x, x), "length {n}");
        if n > 0 {
            assert!(!same_bytes(x, &a[..n - 1]), "lengths {n} and {}", n - 1);
        }
        for at in 0..n {
            let mut y = x.to_vec();
            y[at] ^= 0x20;
            assert!(!same_bytes(x, &y), "length {n}, byte {at} differs");
        }
    }
}

#[test]
fn get_finds_keys_of_every_length_and_keeps_the_last_duplicate() {
    // Past 63 bytes get_many's length set shares one bit.
    for n in (1..=24).chain(62..=66).chain([100]) {
        let key: String = "k".repeat(n);
        let near: String = format!("{}j", "k".repeat(n - 1));
        let d = doc(&format!(r#"{{"{near}":0,"{key}":1,"{key}":2,"x":3}}"#));
        assert_eq!(d.raw(d.get(0, &key).unwrap()), "2", "length {n}");
        assert_eq!(d.get(0, &format!("{key}k")), None);
        let many = d.get_many(0, [key.as_str(), near.as_str()]);
        assert_eq!(many.map(|v| v.map(|v| d.raw(v))), [Some("2"), Some("0")]);
        let longer = format!("{key}k");
        let many = d.get_many(0, [longer.as_str(), "x", &key[..n - 1]]);
        assert_eq!(
            many.map(|v| v.map(|v| d.raw(v))),
            [None, Some("3"), None],
            "length {n}"
        );
    }
}

#[test]
fn int_value_reads_every_integer_as_get_int_does() {
    for text in [
        "0",
        "7",
        "9",
        "-0",
        "-5",
        "10",
        "42",
        "-123",
        "9223372036854775807",
        "-9223372036854775808",
    ] {
        let d = doc(&format!("[{text}]"));
        assert_eq!(d.int_value(1), text.parse::<i64>().ok(), "{text}");
    }
    // Past i64, a float or another kind: none.
    for text in ["9223372036854775808", "1.0", "1e3", "\"1\"", "true", "null"] {
        let d = doc(&format!("[{text}]"));
        assert_eq!(d.int_value(1), None, "{text}");
    }
}
