//! `INSERT` statements as `pg_dump --inserts`, `--column-inserts` and `--rows-per-insert` write
//! them: `INSERT INTO schema.table [(columns)] [OVERRIDING SYSTEM VALUE] VALUES (...), (...)
//! [ON CONFLICT DO NOTHING];`, with SQL literals as values.
//!
//! Each value becomes the text PostgreSQL's output function gives, which is what COPY would
//! carry: a string constant's value (`'...'`, `E'...'`, `$$...$$`, also with a `::type` cast),
//! a number as written (with its sign), `t`/`f` for `true`/`false`, a bit string's digits,
//! `None` for `NULL` and for `DEFAULT` (pg_dump writes `DEFAULT` for generated columns). Any
//! other expression rejects its row.

use super::lexer::{QualifiedName, Token, Tokens};

/// The part of an `INSERT` before `VALUES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InsertHeader {
    pub(crate) table: QualifiedName,
    pub(crate) columns: Option<Vec<String>>,
}

/// One `(...)` of a `VALUES` list: where it starts in the statement and its fields, or why
/// they cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tuple {
    pub(crate) offset: usize,
    pub(crate) fields: Result<Vec<Option<String>>, String>,
}

/// Reads the header of an `INSERT`; `Ok(None)` for any other statement. The tokens are then
/// at `VALUES`, ready for [`values`].
pub(crate) fn header(t: &mut Tokens) -> Result<Option<InsertHeader>, String> {
    if !t.eat_keyword("insert")? {
        return Ok(None);
    }
    if !t.eat_keyword("into")? {
        return Err("expected INTO after INSERT".into());
    }
    let table = t.qualified_name()?;
    let columns = if t.eat_punct(b'(')? {
        Some(t.identifier_list()?)
    } else {
        None
    };
    if t.eat_keyword("overriding")? {
        t.next_token()?;
        t.next_token()?;
    }
    if !t.eat_keyword("values")? {
        return Err(format!(
            "expected VALUES after the table name, found {:?}; only INSERT ... VALUES is read",
            t.peek()?
        ));
    }
    Ok(Some(InsertHeader { table, columns }))
}

/// Reads the tuples after `VALUES`. A value that is not a literal spoils only its own tuple;
/// an error in the list's structure is an error for the whole statement.
pub(crate) fn values(t: &mut Tokens) -> Result<Vec<Tuple>, String> {
    let mut tuples = Vec::new();
    loop {
        let (open, offset) = t.expect_token("`(` starting a row of values")?;
        if open != Token::Punct(b'(') {
            return Err(format!(
                "expected `(` starting a row of values at byte {offset}, found {open:?}"
            ));
        }
        let fields = tuple(t);
        if fields.is_err() {
            skip_to_tuple_end(t, offset)?;
        }
        tuples.push(Tuple { offset, fields });
        match t.next_token()? {
            Some((Token::Punct(b','), _)) => {}
            None | Some((Token::Punct(b';'), _)) => return Ok(tuples),
            Some((Token::Word(w), _)) if w == "on" => return Ok(tuples),
            Some((other, at)) => {
                return Err(format!(
                    "expected `,` or the end of the statement after a row of values at byte \
                     {at}, found {other:?}"
                ));
            }
        }
    }
}

/// The values of one tuple, after its `(`, up to and including its `)`.
fn tuple(t: &mut Tokens) -> Result<Vec<Option<String>>, String> {
    let mut fields = Vec::new();
    if t.eat_punct(b')')? {
        return Ok(fields);
    }
    loop {
        fields.push(value(t)?);
        match t.expect_token("`,` or `)`")? {
            (Token::Punct(b','), _) => {}
            (Token::Punct(b')'), _) => return Ok(fields),
            (other, at) => {
                return Err(format!(
                    "value {} is an expression, not a literal (found {other:?} at byte {at})",
                    fields.len()
                ));
            }
        }
    }
}

/// After an error inside the tuple that starts at `offset`: skips to the `)` that closes
/// it, counting brackets from its `(`.
fn skip_to_tuple_end(t: &mut Tokens, offset: usize) -> Result<(), String> {
    t.rewind(offset);
    let mut depth = 0usize;
    while let Some((token, _)) = t.next_token()? {
        match token {
            Token::Punct(b'(' | b'[') => depth += 1,
            Token::Punct(b')' | b']') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// One literal value, with any `::type` casts after it.
fn value(t: &mut Tokens) -> Result<Option<String>, String> {
    let (token, at) = t.expect_token("a value")?;
    let value = match token {
        Token::Str(s) | Token::BitStr(s) | Token::Number(s) => Some(s),
        Token::Op(sign) if sign == "-" || sign == "+" => match t.expect_token("a number")? {
            (Token::Number(n), _) if sign == "-" => Some(format!("-{n}")),
            (Token::Number(n), _) => Some(n),
            (other, at) => {
                return Err(format!(
                    "expected a number after `{sign}` at byte {at}, found {other:?}"
                ));
            }
        },
        Token::Word(w) => match w.as_str() {
            "null" | "default" => None,
            "true" => Some("t".to_owned()),
            "false" => Some("f".to_owned()),
            _ => match t.next_token()? {
                // A typed literal: `timestamp '2024-01-01'`.
                Some((Token::Str(s), _)) => Some(s),
                _ => {
                    return Err(format!(
                        "`{w}` at byte {at} starts an expression, not a literal"
                    ));
                }
            },
        },
        Token::Punct(b'(') => {
            let inner = value(t)?;
            match t.expect_token("`)`")? {
                (Token::Punct(b')'), _) => inner,
                (other, at) => {
                    return Err(format!(
                        "an expression in parentheses at byte {at} (found {other:?}), not a \
                         literal"
                    ));
                }
            }
        }
        other => {
            return Err(format!(
                "{other:?} at byte {at} starts an expression, not a literal"
            ));
        }
    };
    while t.peek()? == Some(&Token::Cast) {
        t.next_token()?;
        skip_type(t)?;
    }
    Ok(value)
}

/// Skips a type name after `::`: words, dots, and anything in parentheses or brackets, up to
/// the `,` or `)` that ends the value.
fn skip_type(t: &mut Tokens) -> Result<(), String> {
    let mut depth = 0usize;
    while let Some(token) = t.peek()? {
        match token {
            Token::Punct(b'(' | b'[') => depth += 1,
            Token::Punct(b')' | b']') if depth > 0 => depth -= 1,
            Token::Punct(b',' | b')') | Token::Cast if depth == 0 => return Ok(()),
            _ => {}
        }
        t.next_token()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> (InsertHeader, Vec<Tuple>) {
        let mut t = Tokens::new(sql.as_bytes(), true);
        let header = header(&mut t).unwrap().unwrap();
        let tuples = values(&mut t).unwrap();
        (header, tuples)
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn literals_become_the_text_postgres_prints() {
        let (header, tuples) = parse(
            "INSERT INTO public.t VALUES ('it''s', E'a\\nb', 42, -0.01, +3, 1.5e10, NULL, \
             true, false, 'NaN', '{a,\"b c\"}', B'0101', DEFAULT, $$x$$, '1'::numeric(12,2), \
             'x'::character varying, '2024-01-01'::timestamp with time zone, ('7'), \
             '-Infinity'::double precision::text);",
        );
        assert_eq!(header.table.name, "t");
        assert_eq!(header.columns, None);
        assert_eq!(
            tuples,
            vec![Tuple {
                offset: 28,
                fields: Ok(vec![
                    some("it's"),
                    some("a\nb"),
                    some("42"),
                    some("-0.01"),
                    some("3"),
                    some("1.5e10"),
                    None,
                    some("t"),
                    some("f"),
                    some("NaN"),
                    some("{a,\"b c\"}"),
                    some("0101"),
                    None,
                    some("x"),
                    some("1"),
                    some("x"),
                    some("2024-01-01"),
                    some("7"),
                    some("-Infinity"),
                ]),
            }]
        );
    }

    #[test]
    fn column_lists_and_multi_row_inserts_are_read() {
        let (header, tuples) = parse(
            "INSERT INTO \"S\".t (a, \"B\") OVERRIDING SYSTEM VALUE VALUES\n\t(1, 'x'),\n\t(2, NULL) \
             ON CONFLICT DO NOTHING;",
        );
        assert_eq!(header.table.schema.as_deref(), Some("S"));
        assert_eq!(header.columns, Some(vec!["a".into(), "B".into()]));
        let fields: Vec<_> = tuples.into_iter().map(|t| t.fields.unwrap()).collect();
        assert_eq!(
            fields,
            vec![vec![some("1"), some("x")], vec![some("2"), None]]
        );
    }

    #[test]
    fn an_expression_rejects_only_its_own_row() {
        let (_, tuples) =
            parse("INSERT INTO t VALUES (1, now()), (2, 'a' || 'b'), (3, ARRAY[1,2]), (4, 'ok');");
        assert_eq!(tuples.len(), 4);
        for tuple in &tuples[..3] {
            let error = tuple.fields.as_ref().unwrap_err();
            assert!(
                error.contains("expression"),
                "{error} in tuple at {}",
                tuple.offset
            );
        }
        assert_eq!(tuples[3].fields, Ok(vec![some("4"), some("ok")]));
    }

    #[test]
    fn other_statements_are_not_inserts() {
        let mut t = Tokens::new(b"UPDATE t SET a = 1;", true);
        assert_eq!(header(&mut t), Ok(None));
        let mut t = Tokens::new(b"INSERT INTO t SELECT 1;", true);
        assert!(
            header(&mut t)
                .unwrap_err()
                .contains("only INSERT ... VALUES")
        );
    }
}
