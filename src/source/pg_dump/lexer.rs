//! A tokenizer for the SQL statements pg_dump writes: identifiers (unquoted ones folded to
//! lower case, as PostgreSQL does; double-quoted ones with `""` undoubled), string constants
//! (`'...'` with `''` doubling, `E'...'` with backslash escapes, `$tag$...$tag$`), bit strings,
//! numbers, punctuation, `::` casts and operators. Comments (`--` and nested `/* */`) are
//! skipped.
//!
//! It works on one complete statement; finding where statements end in a stream is the
//! scanner's job (`plain.rs`).

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// An unquoted identifier or keyword, folded to lower case.
    Word(String),
    /// A double-quoted identifier, without its quotes.
    QuotedIdent(String),
    /// The value of a string constant.
    Str(String),
    /// The digits of a bit string constant `B'0101'`.
    BitStr(String),
    /// A number, as written.
    Number(String),
    /// One of `( ) , ; . [ ]`.
    Punct(u8),
    /// `::`.
    Cast,
    /// Any other operator (`-`, `+`, `||`, `=` ...), as written.
    Op(String),
}

impl Token {
    /// Whether this is the keyword `keyword` (given in lower case).
    pub(crate) fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(w) if w == keyword)
    }

    /// The identifier this token names, if it is one.
    pub(crate) fn identifier(&self) -> Option<&str> {
        match self {
            Token::Word(w) | Token::QuotedIdent(w) => Some(w),
            _ => None,
        }
    }
}

/// Tokens of one statement, with one token of lookahead. Each token comes with the byte
/// offset where it starts.
pub(crate) struct Tokens<'a> {
    src: &'a [u8],
    pos: usize,
    std_strings: bool,
    peeked: Option<Result<Option<(Token, usize)>, String>>,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

const OPERATOR_CHARS: &[u8] = b"+-*/<>=~!@#%^&|`?";

impl<'a> Tokens<'a> {
    /// `std_strings` is `standard_conforming_strings`: when off, backslashes escape in every
    /// string constant, not only in `E'...'`.
    pub(crate) fn new(src: &'a [u8], std_strings: bool) -> Tokens<'a> {
        Tokens {
            src,
            pos: 0,
            std_strings,
            peeked: None,
        }
    }

    /// Continues lexing at byte `offset` of the statement.
    pub(crate) fn rewind(&mut self, offset: usize) {
        self.pos = offset;
        self.peeked = None;
    }

    /// The next token, or `None` at the end.
    pub(crate) fn next_token(&mut self) -> Result<Option<(Token, usize)>, String> {
        match self.peeked.take() {
            Some(result) => result,
            None => self.lex(),
        }
    }

    /// The next token without consuming it.
    pub(crate) fn peek(&mut self) -> Result<Option<&Token>, String> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex());
        }
        match &self.peeked {
            Some(Ok(Some((token, _)))) => Ok(Some(token)),
            Some(Ok(None)) | None => Ok(None),
            Some(Err(e)) => Err(e.clone()),
        }
    }

    /// The next token, which must exist.
    pub(crate) fn expect_token(&mut self, what: &str) -> Result<(Token, usize), String> {
        self.next_token()?
            .ok_or_else(|| format!("the statement ends where {what} was expected"))
    }

    /// Consumes the next token if it is the keyword `keyword`.
    pub(crate) fn eat_keyword(&mut self, keyword: &str) -> Result<bool, String> {
        if self.peek()?.is_some_and(|t| t.is_keyword(keyword)) {
            self.next_token()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Consumes the next token if it is the punctuation `p`.
    pub(crate) fn eat_punct(&mut self, p: u8) -> Result<bool, String> {
        if self.peek()? == Some(&Token::Punct(p)) {
            self.next_token()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn byte(&self, i: usize) -> Option<u8> {
        self.src.get(i).copied()
    }

    fn text(&self, start: usize, end: usize) -> Result<String, String> {
        let bytes = self.src.get(start..end).unwrap_or_default();
        String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("invalid UTF-8 at byte {start} of the statement"))
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            match (self.byte(self.pos), self.byte(self.pos + 1)) {
                (Some(b), _) if b.is_ascii_whitespace() => self.pos += 1,
                (Some(b'-'), Some(b'-')) => {
                    while self.byte(self.pos).is_some_and(|b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    let mut depth = 0usize;
                    while self.pos < self.src.len() {
                        match (self.byte(self.pos), self.byte(self.pos + 1)) {
                            (Some(b'/'), Some(b'*')) => {
                                depth += 1;
                                self.pos += 2;
                            }
                            (Some(b'*'), Some(b'/')) => {
                                depth -= 1;
                                self.pos += 2;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => self.pos += 1,
                        }
                    }
                }
                _ => return,
            }
        }
    }

    fn lex(&mut self) -> Result<Option<(Token, usize)>, String> {
        self.skip_space_and_comments();
        let start = self.pos;
        let Some(b) = self.byte(start) else {
            return Ok(None);
        };
        let next = self.byte(start + 1);
        let token = match b {
            b'\'' => {
                self.pos += 1;
                Token::Str(self.string(!self.std_strings)?)
            }
            b'e' | b'E' if next == Some(b'\'') => {
                self.pos += 2;
                Token::Str(self.string(true)?)
            }
            b'n' | b'N' if next == Some(b'\'') => {
                self.pos += 2;
                Token::Str(self.string(!self.std_strings)?)
            }
            b'b' | b'B' if next == Some(b'\'') => {
                self.pos += 2;
                Token::BitStr(self.string(false)?)
            }
            b'x' | b'X' if next == Some(b'\'') => {
                self.pos += 2;
                let hex = self.string(false)?;
                let mut bits = String::with_capacity(hex.len() * 4);
                for c in hex.chars() {
                    let v = c
                        .to_digit(16)
                        .ok_or_else(|| format!("X'{hex}' is not a hexadecimal bit string"))?;
                    bits.push_str(&format!("{v:04b}"));
                }
                Token::BitStr(bits)
            }
            b'u' | b'U' if next == Some(b'&') && self.byte(start + 2) == Some(b'\'') => {
                return Err("U&'...' string constants are not supported".into());
            }
            b'"' => {
                self.pos += 1;
                Token::QuotedIdent(self.quoted_identifier()?)
            }
            b'$' if next.is_some_and(|c| c == b'$' || (is_ident_start(c))) => {
                match self.dollar_string()? {
                    Some(s) => Token::Str(s),
                    None => {
                        self.pos += 1;
                        Token::Op("$".into())
                    }
                }
            }
            b'0'..=b'9' => Token::Number(self.number()?),
            b'.' if next.is_some_and(|c| c.is_ascii_digit()) => Token::Number(self.number()?),
            b'(' | b')' | b',' | b';' | b'.' | b'[' | b']' => {
                self.pos += 1;
                Token::Punct(b)
            }
            b':' if next == Some(b':') => {
                self.pos += 2;
                Token::Cast
            }
            _ if is_ident_start(b) => {
                while self.byte(self.pos).is_some_and(is_ident_char) {
                    self.pos += 1;
                }
                Token::Word(self.text(start, self.pos)?.to_lowercase())
            }
            _ if OPERATOR_CHARS.contains(&b) => {
                self.pos += 1;
                while self
                    .byte(self.pos)
                    .is_some_and(|c| OPERATOR_CHARS.contains(&c))
                    && !matches!(
                        (self.byte(self.pos), self.byte(self.pos + 1)),
                        (Some(b'-'), Some(b'-')) | (Some(b'/'), Some(b'*'))
                    )
                {
                    self.pos += 1;
                }
                Token::Op(self.text(start, self.pos)?)
            }
            _ => {
                self.pos += 1;
                Token::Op(self.text(start, self.pos).unwrap_or_default())
            }
        };
        Ok(Some((token, start)))
    }

    /// The rest of a quoted string after its opening quote.
    fn string(&mut self, escapes: bool) -> Result<String, String> {
        let start = self.pos;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.byte(self.pos) else {
                return Err(format!(
                    "the string constant at byte {start} of the statement has no closing quote"
                ));
            };
            self.pos += 1;
            match b {
                b'\'' if self.byte(self.pos) == Some(b'\'') => {
                    out.push(b'\'');
                    self.pos += 1;
                }
                b'\'' => break,
                b'\\' if escapes => self.escape(&mut out)?,
                _ => out.push(b),
            }
        }
        if out.contains(&0) {
            return Err(format!(
                "the string constant at byte {start} of the statement holds a NUL byte"
            ));
        }
        String::from_utf8(out).map_err(|_| {
            format!("the string constant at byte {start} of the statement is not valid UTF-8")
        })
    }

    /// One backslash escape of an escape string constant, after the backslash.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let Some(c) = self.byte(self.pos) else {
            return Ok(());
        };
        self.pos += 1;
        match c {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'0'..=b'7' => {
                let mut value = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.byte(self.pos) {
                        Some(d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            b'x' => match self.hex(2) {
                Some(v) => out.push(v as u8),
                None => out.push(b'x'),
            },
            b'u' | b'U' => {
                let digits = if c == b'u' { 4 } else { 8 };
                let mut code = self
                    .hex_exact(digits)
                    .ok_or_else(|| format!("\\{} needs {digits} hex digits", char::from(c)))?;
                if (0xD800..0xDC00).contains(&code)
                    && self.byte(self.pos) == Some(b'\\')
                    && self.byte(self.pos + 1) == Some(b'u')
                {
                    self.pos += 2;
                    let low = self
                        .hex_exact(4)
                        .ok_or("\\u needs 4 hex digits".to_owned())?;
                    code = 0x10000 + ((code - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3ff);
                }
                let ch = char::from_u32(code)
                    .ok_or_else(|| format!("\\u{code:x} is not a Unicode character"))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            other => out.push(other),
        }
        Ok(())
    }

    /// Up to `max` hex digits.
    fn hex(&mut self, max: usize) -> Option<u32> {
        let mut value = None;
        for _ in 0..max {
            let Some(d) = self.byte(self.pos).and_then(|b| char::from(b).to_digit(16)) else {
                break;
            };
            value = Some(value.unwrap_or(0) * 16 + d);
            self.pos += 1;
        }
        value
    }

    /// Exactly `n` hex digits.
    fn hex_exact(&mut self, n: usize) -> Option<u32> {
        let digits = self.src.get(self.pos..self.pos + n)?;
        let text = std::str::from_utf8(digits).ok()?;
        let value = u32::from_str_radix(text, 16).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += n;
        Some(value)
    }

    /// A dollar-quoted string at `self.pos`, or `None` if the `$` starts no such string.
    fn dollar_string(&mut self) -> Result<Option<String>, String> {
        let start = self.pos;
        let mut end = start + 1;
        while self
            .byte(end)
            .is_some_and(|b| is_ident_char(b) && b != b'$')
        {
            end += 1;
        }
        if self.byte(end) != Some(b'$') {
            return Ok(None);
        }
        let tag = self.src.get(start..=end).unwrap_or_default();
        let body_start = end + 1;
        let body_len = self
            .src
            .get(body_start..)
            .unwrap_or_default()
            .windows(tag.len())
            .position(|w| w == tag)
            .ok_or_else(|| {
                format!("the dollar-quoted string at byte {start} of the statement never ends")
            })?;
        self.pos = body_start + body_len + tag.len();
        self.text(body_start, body_start + body_len).map(Some)
    }

    fn number(&mut self) -> Result<String, String> {
        let start = self.pos;
        let digits = |t: &mut Self| {
            while t
                .byte(t.pos)
                .is_some_and(|b| b.is_ascii_digit() || b == b'_')
            {
                t.pos += 1;
            }
        };
        digits(self);
        if self.byte(self.pos) == Some(b'.') && self.byte(self.pos + 1) != Some(b'.') {
            self.pos += 1;
            digits(self);
        }
        if matches!(self.byte(self.pos), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.byte(self.pos + 1), Some(b'+' | b'-')));
            if self
                .byte(self.pos + 1 + sign)
                .is_some_and(|b| b.is_ascii_digit())
            {
                self.pos += 1 + sign;
                digits(self);
            }
        }
        self.text(start, self.pos)
    }

    fn quoted_identifier(&mut self) -> Result<String, String> {
        let start = self.pos;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.byte(self.pos) else {
                return Err(format!(
                    "the quoted identifier at byte {start} of the statement has no closing quote"
                ));
            };
            self.pos += 1;
            match b {
                b'"' if self.byte(self.pos) == Some(b'"') => {
                    out.push(b'"');
                    self.pos += 1;
                }
                b'"' => break,
                _ => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| {
            format!("the quoted identifier at byte {start} of the statement is not valid UTF-8")
        })
    }

    /// A possibly schema-qualified name: `name`, `schema.name` (or `db.schema.name`).
    pub(crate) fn qualified_name(&mut self) -> Result<QualifiedName, String> {
        let mut parts = vec![self.identifier("a name")?];
        while self.eat_punct(b'.')? {
            parts.push(self.identifier("a name after the dot")?);
        }
        let name = parts.pop().unwrap_or_default();
        Ok(QualifiedName {
            schema: parts.pop(),
            name,
        })
    }

    /// An identifier.
    pub(crate) fn identifier(&mut self, what: &str) -> Result<String, String> {
        match self.expect_token(what)? {
            (Token::Word(w) | Token::QuotedIdent(w), _) => Ok(w),
            (other, at) => Err(format!(
                "expected {what} at byte {at} of the statement, found {other:?}"
            )),
        }
    }

    /// A parenthesised list of identifiers: `(a, "B", c)`; the `(` is already consumed.
    pub(crate) fn identifier_list(&mut self) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        if self.eat_punct(b')')? {
            return Ok(names);
        }
        loop {
            names.push(self.identifier("a column name")?);
            match self.expect_token("`,` or `)`")? {
                (Token::Punct(b','), _) => {}
                (Token::Punct(b')'), _) => return Ok(names),
                (other, at) => {
                    return Err(format!(
                        "expected `,` or `)` in a column list at byte {at}, found {other:?}"
                    ));
                }
            }
        }
    }
}

/// A table name as a statement gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QualifiedName {
    pub(crate) schema: Option<String>,
    pub(crate) name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(sql: &str, std_strings: bool) -> Vec<Token> {
        let mut t = Tokens::new(sql.as_bytes(), std_strings);
        let mut out = Vec::new();
        while let Some((token, _)) = t.next_token().unwrap() {
            out.push(token);
        }
        out
    }

    fn word(w: &str) -> Token {
        Token::Word(w.into())
    }

    fn s(v: &str) -> Token {
        Token::Str(v.into())
    }

    #[test]
    fn identifiers_fold_to_lower_case_unless_quoted() {
        assert_eq!(
            tokens(r#"INSERT INTO Public."My ""Table""""#, true),
            vec![
                word("insert"),
                word("into"),
                word("public"),
                Token::Punct(b'.'),
                Token::QuotedIdent(r#"My "Table""#.into())
            ]
        );
    }

    #[test]
    fn string_constants_decode_to_their_golden_values() {
        let cases: &[(&str, bool, &str)] = &[
            ("'it''s'", true, "it's"),
            (r"'C:\Users\'", true, r"C:\Users\"),
            (r"'C:\\x'", false, r"C:\x"),
            (r"E'a\nb\tc\\d\'e'", true, "a\nb\tc\\d'e"),
            (r"e'\303\251\x41\u00e9\U0001D11E'", true, "éAé𝄞"),
            (r"E'\uD834\uDD1E'", true, "𝄞"),
            (r"E'\q'", true, "q"),
            ("$$a;'b'$$", true, "a;'b'"),
            ("$fn$ $$ $fn$", true, " $$ "),
            ("N'x'", true, "x"),
            ("'multi\nline'", true, "multi\nline"),
        ];
        for (sql, std_strings, value) in cases {
            assert_eq!(tokens(sql, *std_strings), vec![s(value)], "{sql}");
        }
    }

    #[test]
    fn numbers_casts_bits_and_operators_are_tokens() {
        assert_eq!(
            tokens("-1.5e3, 42::bigint, B'0101', X'1f', 'a' || 'b', .5", true),
            vec![
                Token::Op("-".into()),
                Token::Number("1.5e3".into()),
                Token::Punct(b','),
                Token::Number("42".into()),
                Token::Cast,
                word("bigint"),
                Token::Punct(b','),
                Token::BitStr("0101".into()),
                Token::Punct(b','),
                Token::BitStr("00011111".into()),
                Token::Punct(b','),
                s("a"),
                Token::Op("||".into()),
                s("b"),
                Token::Punct(b','),
                Token::Number(".5".into()),
            ]
        );
    }

    #[test]
    fn comments_are_skipped_even_when_nested() {
        assert_eq!(
            tokens("a -- c1\n /* c2 /* nested */ still */ b", true),
            vec![word("a"), word("b")]
        );
    }

    #[test]
    fn an_invalid_escape_result_is_an_error_not_a_panic() {
        let mut t = Tokens::new(br"E'\xff'", true);
        assert!(t.next_token().unwrap_err().contains("not valid UTF-8"));
        let mut t = Tokens::new(b"'open", true);
        assert!(t.next_token().unwrap_err().contains("no closing quote"));
        let mut t = Tokens::new(br"E'\u12'", true);
        assert!(t.next_token().is_err());
    }

    #[test]
    fn qualified_names_take_the_last_two_parts() {
        let mut t = Tokens::new(br#"db.Sch."T""#, true);
        assert_eq!(
            t.qualified_name().unwrap(),
            QualifiedName {
                schema: Some("sch".into()),
                name: "T".into()
            }
        );
    }
}
