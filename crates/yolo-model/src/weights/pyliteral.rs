//! A parser for Python literal reprs (`{0: 'person'}`, `[640, 640]`, `True`) into JSON values.

use serde_json::{Map, Number, Value};

/// Deepest nesting accepted, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Parses a complete Python literal (dict, list, tuple, str, int, float, bool, None); `None` if
/// the text is not one. Dict keys become JSON object keys (`0` → `"0"`); tuples become arrays.
pub(crate) fn parse(text: &str) -> Option<Value> {
    let mut parser = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    let value = parser.value(0)?;
    parser.skip_ws();
    (parser.pos == parser.s.len()).then_some(value)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self
            .s
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.pos += usize::from(found);
        found
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.dict(depth),
            b'[' => self.sequence(b']', depth),
            b'(' => self.sequence(b')', depth),
            b'\'' | b'"' => self.string().map(Value::String),
            _ => self.word(),
        }
    }

    fn dict(&mut self, depth: usize) -> Option<Value> {
        self.pos += 1;
        let mut map = Map::new();
        while !self.eat(b'}') {
            let key = match self.value(depth + 1)? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            self.eat(b':').then_some(())?;
            map.insert(key, self.value(depth + 1)?);
            self.separator(b'}')?;
        }
        Some(Value::Object(map))
    }

    fn sequence(&mut self, close: u8, depth: usize) -> Option<Value> {
        self.pos += 1;
        let mut items = Vec::new();
        while !self.eat(close) {
            items.push(self.value(depth + 1)?);
            self.separator(close)?;
        }
        Some(Value::Array(items))
    }

    /// After an item: a comma, or the closing bracket (left for the caller to eat).
    fn separator(&mut self, close: u8) -> Option<()> {
        (self.eat(b',') || self.peek() == Some(close)).then_some(())
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.s[self.pos];
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = std::str::from_utf8(self.s.get(self.pos..)?).ok()?;
            let c = rest.chars().next()?;
            self.pos += c.len_utf8();
            match c {
                '\\' => out.push(self.escape()?),
                c if c as u32 == u32::from(quote) => return Some(out),
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self) -> Option<char> {
        let c = *self.s.get(self.pos)?;
        self.pos += 1;
        let hex_len = match c {
            b'x' => 2,
            b'u' => 4,
            b'U' => 8,
            b'n' => return Some('\n'),
            b't' => return Some('\t'),
            b'r' => return Some('\r'),
            b'0' => return Some('\0'),
            other => return Some(char::from(other)),
        };
        let hex = std::str::from_utf8(self.s.get(self.pos..self.pos + hex_len)?).ok()?;
        self.pos += hex_len;
        char::from_u32(u32::from_str_radix(hex, 16).ok()?)
    }

    fn word(&mut self) -> Option<Value> {
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"+-._".contains(b))
        {
            self.pos += 1;
        }
        let word = std::str::from_utf8(&self.s[start..self.pos]).ok()?;
        match word {
            "True" => Some(Value::Bool(true)),
            "False" => Some(Value::Bool(false)),
            "None" => Some(Value::Null),
            _ => number(word),
        }
    }
}

fn number(word: &str) -> Option<Value> {
    if let Ok(i) = word.parse::<i64>() {
        return Some(Value::Number(i.into()));
    }
    let f = word.parse::<f64>().ok()?;
    Some(Number::from_f64(f).map_or(Value::Null, Value::Number))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::json;

    #[test]
    fn parses_ultralytics_metadata_reprs() {
        let names = parse("{0: 'person', 1: \"it's\", 2: 'caf\\xe9'}").expect("dict");
        assert_eq!(names, json!({"0": "person", "1": "it's", "2": "café"}));
        assert_eq!(parse("[640, 640]"), Some(json!([640, 640])));
        let args = parse("{'batch': 1, 'half': False, 'x': None, 'lr': 1e-3, 't': (1, -2.5,)}");
        assert_eq!(
            args,
            Some(json!({"batch": 1, "half": false, "x": null, "lr": 0.001, "t": [1, -2.5]}))
        );
        assert_eq!(parse("32"), Some(json!(32)));
    }

    #[test]
    fn rejects_non_literals() {
        for text in [
            "",
            "detect",
            "{0: 'a'",
            "[1 2]",
            "'open",
            "{'a' 1}",
            "2024-01-01T00:00:00",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
        assert_eq!(parse(&"[".repeat(1000)), None);
    }
}
