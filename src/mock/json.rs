//! JSON text written by hand for the mock server's responses and error
//! bodies: fields stay in the order the providers send them, and nothing is
//! built as a `Value` first.

/// A JSON object written field by field, in order (serde_json's map would
/// sort the keys; providers don't).
#[derive(Clone)]
pub(super) struct Obj(String);

pub(super) fn js(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

impl Obj {
    pub(super) fn new() -> Self {
        Obj(String::from("{"))
    }

    pub(super) fn raw(mut self, key: &str, json: &str) -> Self {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(key);
        self.0.push_str("\":");
        self.0.push_str(json);
        self
    }

    pub(super) fn s(self, key: &str, v: &str) -> Self {
        self.raw(key, &js(v))
    }

    pub(super) fn n(self, key: &str, v: u64) -> Self {
        self.raw(key, &v.to_string())
    }

    pub(super) fn b(self, key: &str, v: bool) -> Self {
        self.raw(key, if v { "true" } else { "false" })
    }

    pub(super) fn null(self, key: &str) -> Self {
        self.raw(key, "null")
    }

    pub(super) fn done(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

pub(super) fn arr<I: IntoIterator<Item = String>>(items: I) -> String {
    let items: Vec<String> = items.into_iter().collect();
    format!("[{}]", items.join(","))
}
