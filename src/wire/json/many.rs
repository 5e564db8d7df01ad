//! Several members of one object in one pass: the per-chunk fold (`final()`)
//! reads five or six fields of each object, and one scan of the members costs
//! about what one [`Doc::get`] does.

use super::{Doc, Kind};

impl Doc {
    /// The value nodes of the members of `obj` named `names`, as `N` calls to
    /// [`Doc::get`] would give them: the last of a repeated key wins, and an
    /// escaped key matches what it decodes to (`json.loads`'s reading).
    #[inline(always)]
    pub fn get_many<const N: usize>(&self, obj: u32, names: [&str; N]) -> [Option<u32>; N] {
        // The names' lengths as a set of bits (63: that long or longer): a key
        // of any other length, most keys, is passed over after one test. The
        // set folds to a constant where the names are literals.
        let mut lengths = 0u64;
        for name in &names {
            lengths |= 1 << name.len().min(63);
        }
        let mut found = [None; N];
        for (k, v) in self.members(obj) {
            let node = self.node(k);
            if node.escaped {
                if let Some(key) = self.str_value(k) {
                    if let Some(i) = names.iter().position(|n| *n == key) {
                        found[i] = Some(v);
                    }
                }
                continue;
            }
            let len = (node.end - node.start) as usize;
            if lengths & (1 << len.min(63)) == 0 {
                continue;
            }
            let key = self.raw_bytes(k);
            if let Some(i) = names
                .iter()
                .position(|n| super::same_bytes(n.as_bytes(), key))
            {
                found[i] = Some(v);
            }
        }
        found
    }

    /// An `Int` node's value if it fits an `i64` (what [`Doc::get_int`] reads).
    pub fn int_value(&self, i: u32) -> Option<i64> {
        if self.node(i).kind != Kind::Int {
            return None;
        }
        // One digit (a choice's `index`, every chunk): no parse. The tape took
        // the node for a JSON integer, so a lone byte is a digit.
        if let [digit] = self.raw_bytes(i) {
            return Some(i64::from(digit - b'0'));
        }
        self.raw(i).parse().ok()
    }

    /// `i` itself if it is an object node.
    pub fn as_object(&self, i: u32) -> Option<u32> {
        (self.node(i).kind == Kind::Object).then_some(i)
    }

    /// `i` itself if it is an array node.
    pub fn as_array(&self, i: u32) -> Option<u32> {
        (self.node(i).kind == Kind::Array).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Doc {
        Doc::parse(s.to_string()).unwrap()
    }

    #[test]
    fn agrees_with_get_member_by_member() {
        let samples = [
            r#"{"a":1,"bb":2,"a":3,"c\u0063":4,"\ud800":5,"dd":{"x":1},"e":[1]}"#,
            r#"{}"#,
            r#"{"index":0,"delta":{"content":"hi"},"logprobs":null,"finish_reason":null}"#,
            r#"{"a":1,"a":{"b":2}}"#,
        ];
        let names = [
            "a",
            "bb",
            "ccc",
            "cc",
            "dd",
            "e",
            "index",
            "delta",
            "finish_reason",
            "",
        ];
        for s in samples {
            let d = doc(s);
            let many = d.get_many(0, names);
            for (name, got) in names.iter().zip(many) {
                assert_eq!(got, d.get(0, name), "{name} in {s}");
            }
        }
    }

    #[test]
    fn typed_views() {
        let d = doc(r#"{"i":12,"f":1.5,"big":99999999999999999999,"o":{},"l":[]}"#);
        let [i, f, big, o, l] = d.get_many(0, ["i", "f", "big", "o", "l"]);
        assert_eq!(i.and_then(|n| d.int_value(n)), Some(12));
        assert_eq!(f.and_then(|n| d.int_value(n)), None);
        assert_eq!(big.and_then(|n| d.int_value(n)), None);
        assert_eq!(o.and_then(|n| d.as_object(n)), o);
        assert_eq!(o.and_then(|n| d.as_array(n)), None);
        assert_eq!(l.and_then(|n| d.as_array(n)), l);
    }
}
