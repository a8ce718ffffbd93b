//! The statements of a dump that describe tables: `CREATE TABLE` (for the columns and their
//! types) and `COPY ... FROM stdin` (for the order of the data's fields).

use super::PgColumn;
use super::lexer::{QualifiedName, Token, Tokens};

/// The table a `CREATE TABLE` statement creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreateTable {
    pub(crate) table: QualifiedName,
    /// Empty for a table whose columns come from elsewhere (`PARTITION OF`, `OF type`).
    pub(crate) columns: Vec<PgColumn>,
    /// `PARTITION BY ...`: a partitioned table, whose rows are in its partitions.
    pub(crate) partitioned: bool,
    /// Its primary key when the statement declares it (a column's `PRIMARY KEY` or a table
    /// constraint's: hand-written SQL; pg_dump adds it later with `ALTER TABLE`).
    pub(crate) primary_key: Vec<String>,
}

/// Keywords that end a column's type in a column definition.
const CONSTRAINT_WORDS: &[&str] = &[
    "collate",
    "default",
    "not",
    "null",
    "generated",
    "constraint",
    "check",
    "unique",
    "primary",
    "references",
    "compression",
    "storage",
];

/// Keywords that start a table constraint rather than a column.
const TABLE_CONSTRAINT_WORDS: &[&str] = &[
    "constraint",
    "check",
    "unique",
    "primary",
    "foreign",
    "exclude",
    "like",
];

/// Parses `CREATE [UNLOGGED] TABLE name (column type ..., ...)`. `Ok(None)` if the statement
/// creates no table (it is another `CREATE`).
pub(crate) fn parse_create_table(
    sql: &[u8],
    std_strings: bool,
) -> Result<Option<CreateTable>, String> {
    let mut t = Tokens::new(sql, std_strings);
    if !t.eat_keyword("create")? {
        return Ok(None);
    }
    for modifier in ["global", "local", "temp", "temporary", "unlogged"] {
        t.eat_keyword(modifier)?;
    }
    if !t.eat_keyword("table")? {
        return Ok(None);
    }
    if t.eat_keyword("if")? {
        t.eat_keyword("not")?;
        t.eat_keyword("exists")?;
    }
    let table = t.qualified_name()?;
    if !t.eat_punct(b'(')? {
        return Ok(Some(CreateTable {
            table,
            columns: Vec::new(),
            partitioned: false,
            primary_key: Vec::new(),
        }));
    }
    let mut columns = Vec::new();
    let mut primary_key = Vec::new();
    loop {
        // One element: the tokens up to the next comma or closing parenthesis at depth 0.
        let mut element: Vec<(Token, usize)> = Vec::new();
        let mut depth = 0usize;
        let (end, last) = loop {
            let (token, at) = t.expect_token("the end of the column list")?;
            match token {
                Token::Punct(b'(' | b'[') => depth += 1,
                Token::Punct(b')' | b']') if depth > 0 => depth -= 1,
                Token::Punct(b')') => break (at, true),
                Token::Punct(b',') if depth == 0 => break (at, false),
                _ => {}
            }
            element.push((token, at));
        };
        let declared = declared_key(&element);
        if let Some(column) = column(sql, &element, end) {
            if declared.is_some() {
                primary_key = vec![column.name.clone()];
            }
            columns.push(column);
        } else if let Some(key) = declared.filter(|k| !k.is_empty()) {
            primary_key = key;
        }
        if last {
            let partitioned = t.eat_keyword("partition")? && t.eat_keyword("by")?;
            return Ok(Some(CreateTable {
                table,
                columns,
                partitioned,
                primary_key,
            }));
        }
    }
}

/// Whether an element of a column list declares the primary key: `Some` of the columns a
/// table constraint's `PRIMARY KEY (a, b)` lists (empty for a column's own `PRIMARY KEY`).
fn declared_key(element: &[(Token, usize)]) -> Option<Vec<String>> {
    let at = element
        .windows(2)
        .position(|pair| pair[0].0.is_keyword("primary") && pair[1].0.is_keyword("key"))?;
    let rest = &element[at + 2..];
    if !matches!(rest.first(), Some((Token::Punct(b'('), _))) {
        return Some(Vec::new());
    }
    Some(
        rest[1..]
            .iter()
            .take_while(|(token, _)| !matches!(token, Token::Punct(b')')))
            .filter_map(|(token, _)| token.identifier().map(str::to_owned))
            .collect(),
    )
}

/// The column an element of a column list defines, or `None` for a table constraint.
fn column(sql: &[u8], element: &[(Token, usize)], end: usize) -> Option<PgColumn> {
    let ((first, _), rest) = element.split_first()?;
    if let Token::Word(w) = first
        && TABLE_CONSTRAINT_WORDS.contains(&w.as_str())
    {
        return None;
    }
    let name = first.identifier()?.to_owned();
    let type_start = rest.first()?.1;
    let type_end = rest
        .iter()
        .find(
            |(token, _)| matches!(token, Token::Word(w) if CONSTRAINT_WORDS.contains(&w.as_str())),
        )
        .map_or(end, |(_, at)| *at);
    let raw = sql.get(type_start..type_end)?;
    let type_name = String::from_utf8_lossy(raw)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let not_null = rest.windows(2).any(|pair| {
        matches!(pair, [(a, _), (b, _)] if (a.is_keyword("not") && b.is_keyword("null"))
            || (a.is_keyword("primary") && b.is_keyword("key")))
    });
    Some(PgColumn {
        name,
        type_name,
        not_null,
    })
}

/// Parses `ALTER TABLE [ONLY] parent ATTACH PARTITION child ...`, how pg_dump attaches a
/// partition to its partitioned table: `(parent, child)`. `Ok(None)` for any other statement.
pub(crate) fn parse_attach(
    sql: &[u8],
    std_strings: bool,
) -> Result<Option<(QualifiedName, QualifiedName)>, String> {
    let mut t = Tokens::new(sql, std_strings);
    if !t.eat_keyword("alter")? || !t.eat_keyword("table")? {
        return Ok(None);
    }
    t.eat_keyword("only")?;
    let parent = t.qualified_name()?;
    if !t.eat_keyword("attach")? || !t.eat_keyword("partition")? {
        return Ok(None);
    }
    let child = t.qualified_name()?;
    Ok(Some((parent, child)))
}

/// Parses `ALTER TABLE [ONLY] name ADD CONSTRAINT c PRIMARY KEY (a, b, ...)`, how pg_dump gives
/// a table its primary key: `(table, columns)`. `Ok(None)` for any other statement.
pub(crate) fn parse_primary_key(
    sql: &[u8],
    std_strings: bool,
) -> Result<Option<(QualifiedName, Vec<String>)>, String> {
    let mut t = Tokens::new(sql, std_strings);
    if !t.eat_keyword("alter")? || !t.eat_keyword("table")? {
        return Ok(None);
    }
    t.eat_keyword("only")?;
    let table = t.qualified_name()?;
    if !t.eat_keyword("add")? {
        return Ok(None);
    }
    if t.eat_keyword("constraint")? {
        t.identifier("the constraint's name")?;
    }
    if !t.eat_keyword("primary")? || !t.eat_keyword("key")? || !t.eat_punct(b'(')? {
        return Ok(None);
    }
    Ok(Some((table, t.identifier_list()?)))
}

/// Parses `CREATE DOMAIN name [AS] type [constraints]`: the domain and its base type as
/// written (`integer`, `character varying(20)`, `public.other_domain`). `Ok(None)` for any other
/// statement.
pub(crate) fn parse_create_domain(
    sql: &[u8],
    std_strings: bool,
) -> Result<Option<(QualifiedName, String)>, String> {
    let mut t = Tokens::new(sql, std_strings);
    if !t.eat_keyword("create")? || !t.eat_keyword("domain")? {
        return Ok(None);
    }
    let domain = t.qualified_name()?;
    t.eat_keyword("as")?;
    let mut start = None;
    let mut end = sql.len();
    while let Some((token, at)) = t.next_token()? {
        let stops = matches!(&token, Token::Word(w) if CONSTRAINT_WORDS.contains(&w.as_str()))
            || matches!(token, Token::Punct(b';'));
        if stops {
            end = at;
            break;
        }
        start.get_or_insert(at);
    }
    let Some(start) = start else {
        return Err("CREATE DOMAIN without a type".into());
    };
    let base = String::from_utf8_lossy(sql.get(start..end).unwrap_or_default())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Some((domain, base)))
}

/// Replaces every column type that names one of `domains` (`(schema, name, base type)`) with
/// the domain's base type, as PostgreSQL stores the values: a domain over `integer` loads as an
/// integer. Arrays of a domain become arrays of its base type; a domain over a domain resolves
/// all the way down.
pub(crate) fn resolve_domains(columns: &mut [PgColumn], domains: &[(QualifiedName, String)]) {
    if domains.is_empty() {
        return;
    }
    let unquoted = |text: &str| text.replace('"', "");
    let base_of = |name: &str| {
        let name = unquoted(name);
        domains.iter().find_map(|(domain, base)| {
            let bare = domain.name.as_str();
            let matches = match &domain.schema {
                Some(schema) => name == format!("{schema}.{bare}") || name == bare,
                None => name == bare,
            };
            matches.then(|| base.clone())
        })
    };
    for column in columns {
        // A chain of domains is as long as the dump's domains at most.
        for _ in 0..=domains.len() {
            let element = column.type_name.trim_end_matches("[]");
            let brackets = &column.type_name[element.len()..];
            match base_of(element) {
                Some(base) => column.type_name = format!("{base}{brackets}"),
                None => break,
            }
        }
    }
}

/// A `COPY table (columns) FROM stdin` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopyFrom {
    pub(crate) table: QualifiedName,
    /// `None` when the statement lists no columns (all columns, in table order).
    pub(crate) columns: Option<Vec<String>>,
    /// Options after `FROM stdin` (another format or delimiter) as written, if any: such data
    /// is not pg_dump's text format.
    pub(crate) options: Option<String>,
}

/// Parses `COPY name [(columns)] FROM stdin [options];`. `Ok(None)` for any other statement.
pub(crate) fn parse_copy(sql: &[u8], std_strings: bool) -> Result<Option<CopyFrom>, String> {
    let mut t = Tokens::new(sql, std_strings);
    if !t.eat_keyword("copy")? {
        return Ok(None);
    }
    let table = t.qualified_name()?;
    let columns = if t.eat_punct(b'(')? {
        Some(t.identifier_list()?)
    } else {
        None
    };
    if !t.eat_keyword("from")? || !t.eat_keyword("stdin")? {
        return Ok(None);
    }
    let options_start = match t.next_token()? {
        None | Some((Token::Punct(b';'), _)) => None,
        Some((_, at)) => Some(at),
    };
    let options = options_start.map(|at| {
        String::from_utf8_lossy(sql.get(at..).unwrap_or_default())
            .trim()
            .trim_end_matches(';')
            .trim()
            .to_owned()
    });
    Ok(Some(CopyFrom {
        table,
        columns,
        options,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, type_name: &str, not_null: bool) -> PgColumn {
        PgColumn {
            name: name.into(),
            type_name: type_name.into(),
            not_null,
        }
    }

    #[test]
    fn the_accounts_table_of_pg_dump_15_has_its_golden_columns() {
        let sql = b"CREATE TABLE public.accounts (
    username text NOT NULL,
    email text,
    country character(2),
    created timestamp with time zone NOT NULL,
    last_updated timestamp with time zone NOT NULL,
    premium boolean,
    accepted_licences text[],
    bio text,
    user_id uuid NOT NULL,
    birth_year smallint,
    balance numeric(12,2),
    login_count bigint
);";
        let table = parse_create_table(sql, true).unwrap().unwrap();
        assert_eq!(
            table.table,
            QualifiedName {
                schema: Some("public".into()),
                name: "accounts".into()
            }
        );
        assert_eq!(
            table.columns,
            vec![
                col("username", "text", true),
                col("email", "text", false),
                col("country", "character(2)", false),
                col("created", "timestamp with time zone", true),
                col("last_updated", "timestamp with time zone", true),
                col("premium", "boolean", false),
                col("accepted_licences", "text[]", false),
                col("bio", "text", false),
                col("user_id", "uuid", true),
                col("birth_year", "smallint", false),
                col("balance", "numeric(12,2)", false),
                col("login_count", "bigint", false),
            ]
        );
    }

    #[test]
    fn quoted_names_defaults_generated_columns_and_constraints_are_understood() {
        let sql = br#"CREATE UNLOGGED TABLE "My Schema"."Odd ""T""" (
    id integer DEFAULT nextval('public.t_id_seq'::regclass) NOT NULL,
    "Name" character varying(255) COLLATE pg_catalog."C",
    mood public.mood,
    tags integer[] DEFAULT '{1,2}'::integer[],
    at timestamp(3) without time zone,
    total numeric GENERATED ALWAYS AS ((id * 2)) STORED,
    CONSTRAINT positive CHECK ((id > 0))
);"#;
        let table = parse_create_table(sql, true).unwrap().unwrap();
        assert_eq!(table.table.schema.as_deref(), Some("My Schema"));
        assert_eq!(table.table.name, r#"Odd "T""#);
        assert_eq!(
            table.columns,
            vec![
                col("id", "integer", true),
                col("Name", "character varying(255)", false),
                col("mood", "public.mood", false),
                col("tags", "integer[]", false),
                col("at", "timestamp(3) without time zone", false),
                col("total", "numeric", false),
            ]
        );
    }

    #[test]
    fn other_create_statements_are_not_tables() {
        assert_eq!(
            parse_create_table(b"CREATE INDEX i ON public.t (a);", true),
            Ok(None)
        );
        assert_eq!(
            parse_create_table(b"CREATE TYPE public.mood AS ENUM ('sad');", true),
            Ok(None)
        );
        let partition = parse_create_table(
            b"CREATE TABLE public.p1 PARTITION OF public.p FOR VALUES IN (1);",
            true,
        )
        .unwrap()
        .unwrap();
        assert!(partition.columns.is_empty());
        let parent = parse_create_table(
            b"CREATE TABLE public.payment (id integer NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);",
            true,
        )
        .unwrap()
        .unwrap();
        assert!(parent.partitioned);
        assert_eq!(parent.columns.len(), 2);
    }

    #[test]
    fn a_primary_key_is_read_from_pg_dumps_alter_table_and_from_create_table() {
        let (table, key) = parse_primary_key(
            b"ALTER TABLE ONLY public.rental\n    ADD CONSTRAINT rental_pkey PRIMARY KEY (rental_id, \"Store\");",
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(table.name, "rental");
        assert_eq!(key, ["rental_id", "Store"]);
        for other in [
            &b"ALTER TABLE ONLY public.t ADD CONSTRAINT t_u UNIQUE (a);"[..],
            b"ALTER TABLE ONLY public.t ATTACH PARTITION public.c DEFAULT;",
            b"ALTER TABLE public.t OWNER TO postgres;",
        ] {
            assert_eq!(parse_primary_key(other, true).unwrap(), None);
        }
        let inline = parse_create_table(b"CREATE TABLE t (id integer PRIMARY KEY, v text)", true)
            .unwrap()
            .unwrap();
        assert_eq!(inline.primary_key, ["id"]);
        let constraint = parse_create_table(
            b"CREATE TABLE t (a int, b text, CONSTRAINT t_pk PRIMARY KEY (b, a))",
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(constraint.primary_key, ["b", "a"]);
        let none = parse_create_table(b"CREATE TABLE t (a int NOT NULL)", true)
            .unwrap()
            .unwrap();
        assert!(none.primary_key.is_empty());
    }

    #[test]
    fn an_attached_partition_names_its_parent_and_itself() {
        let (parent, child) = parse_attach(
            b"ALTER TABLE ONLY public.payment ATTACH PARTITION public.payment_p2022_01 FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');",
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (parent.schema.as_deref(), parent.name.as_str()),
            (Some("public"), "payment")
        );
        assert_eq!(child.name, "payment_p2022_01");
        assert_eq!(
            parse_attach(
                b"ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id);",
                true
            ),
            Ok(None)
        );
    }

    #[test]
    fn a_copy_statement_gives_its_table_and_column_order() {
        let copy = parse_copy(
            b"COPY public.accounts (username, \"E-mail\", bio) FROM stdin;",
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(copy.table.name, "accounts");
        assert_eq!(
            copy.columns,
            Some(vec!["username".into(), "E-mail".into(), "bio".into()])
        );
        assert_eq!(copy.options, None);
        let bare = parse_copy(b"copy t from stdin;", true).unwrap().unwrap();
        assert_eq!(bare.table.schema, None);
        assert_eq!(bare.columns, None);
        let csv = parse_copy(b"COPY t (a) FROM stdin WITH (FORMAT csv);", true)
            .unwrap()
            .unwrap();
        assert_eq!(csv.options.as_deref(), Some("WITH (FORMAT csv)"));
        assert_eq!(parse_copy(b"COPY t TO stdout;", true), Ok(None));
    }

    #[test]
    fn a_domain_is_read_with_its_base_type_and_columns_of_it_resolve_to_that_type() {
        let domain = |sql: &str| parse_create_domain(sql.as_bytes(), true).unwrap();
        let (year, base) = domain(
            "CREATE DOMAIN public.year AS integer CONSTRAINT year_check CHECK (VALUE > 1900);",
        )
        .unwrap();
        assert_eq!(
            (year.schema.as_deref(), year.name.as_str()),
            (Some("public"), "year")
        );
        assert_eq!(base, "integer");
        let (_, base) =
            domain("CREATE DOMAIN public.code character varying(10) NOT NULL;").unwrap();
        assert_eq!(base, "character varying(10)");
        let (born, base) =
            domain("CREATE DOMAIN public.born AS public.year DEFAULT 1970;").unwrap();
        assert_eq!((born.name.as_str(), base.as_str()), ("born", "public.year"));
        assert_eq!(domain("CREATE TABLE public.t (a integer);"), None);
        assert!(parse_create_domain(b"CREATE DOMAIN public.x AS;", true).is_err());

        let domains = vec![
            (year, "integer".to_owned()),
            (born, "public.year".to_owned()),
        ];
        let mut columns: Vec<PgColumn> = [
            "public.year",
            "public.born",
            "public.\"year\"[]",
            "year",
            "text",
        ]
        .iter()
        .map(|t| PgColumn {
            name: "c".into(),
            type_name: (*t).into(),
            not_null: false,
        })
        .collect();
        resolve_domains(&mut columns, &domains);
        let types: Vec<&str> = columns.iter().map(|c| c.type_name.as_str()).collect();
        assert_eq!(
            types,
            ["integer", "integer", "integer[]", "integer", "text"]
        );
    }
}
