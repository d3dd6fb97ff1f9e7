//! The splitter's rules, one test per behaviour of the mysql client it follows.

use super::*;
use crate::sql::lex::starts_compound;

fn texts(sql: &str) -> Vec<String> {
    split(sql).map(|s| s.expect("splits").text.to_owned()).collect()
}

fn err(sql: &str) -> SplitError {
    split(sql).find_map(Result::err).expect("an error")
}

#[test]
fn splits_like_the_mysql_client() {
    let cases: &[(&str, &[&str])] = &[
        ("SELECT 1; SELECT 2;", &["SELECT 1", "SELECT 2"]),
        ("SELECT 1;\nSELECT 2", &["SELECT 1", "SELECT 2"]),
        ("  \n\n", &[]),
        (";;;", &[]),
        ("SELECT ';' ; SELECT \"a;b\"", &["SELECT ';'", "SELECT \"a;b\""]),
        ("SELECT 'it\\'s;' ; SELECT 2", &["SELECT 'it\\'s;'", "SELECT 2"]),
        ("SELECT 'it''s;'; SELECT 2", &["SELECT 'it''s;'", "SELECT 2"]),
        ("SELECT `a;``b`; SELECT 2", &["SELECT `a;``b`", "SELECT 2"]),
        ("SELECT `a\\`; SELECT 2", &["SELECT `a\\`", "SELECT 2"]),
        ("-- c;\nSELECT 1; # c;\nSELECT 2", &["SELECT 1", "SELECT 2"]),
        ("SELECT 1 --x;\n;", &["SELECT 1 --x"]),
        ("SELECT 1 -- x;\n, 2;", &["SELECT 1 -- x;\n, 2"]),
        ("SELECT 1 --\u{3000}x; SELECT 2", &["SELECT 1 --\u{3000}x", "SELECT 2"]),
        ("SELECT 1 --\t;\n;", &["SELECT 1 --\t;"]),
        ("/* a; */ SELECT /* ; */ 1;", &["SELECT /* ; */ 1"]),
        ("/*!40101 SET NAMES utf8 */;", &["/*!40101 SET NAMES utf8 */"]),
        ("/*M!100101 SET x=1 */;\n", &["/*M!100101 SET x=1 */"]),
        ("/*!50003 SET a=1; SET b=2 */;", &["/*!50003 SET a=1", "SET b=2 */"]),
        ("SELECT 1\r\n;\r\nSELECT 2;\r\n", &["SELECT 1", "SELECT 2"]),
        ("SELECT 1\\g SELECT 2", &["SELECT 1", "SELECT 2"]),
        ("SELECT \\N;", &["SELECT \\N"]),
    ];
    for (sql, want) in cases {
        assert_eq!(texts(sql), *want, "input: {sql:?}");
    }
}

#[test]
fn delimiter_changes_like_the_mysql_client() {
    let cases: &[(&str, &[&str])] = &[
        (
            "DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END$$\nDELIMITER ;\nSELECT 2;",
            &["CREATE PROCEDURE p() BEGIN SELECT 1; END", "SELECT 2"],
        ),
        (
            "delimiter //\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a=1; END //\ndelimiter ;",
            &["CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a=1; END"],
        ),
        ("DELIMITER ;;\nSELECT 1;;\nSELECT 2 ;;\n", &["SELECT 1", "SELECT 2"]),
        ("  DeLiMiTeR   \"x💩\"\nSELECT 'x💩' x💩SELECT 2", &["SELECT 'x💩'", "SELECT 2"]),
        ("DELIMITER $$ -- cool\nSELECT 1$$", &["SELECT 1"]),
        ("DELIMITER $$\r\nSELECT 1$$\r\n", &["SELECT 1"]),
        // Not at a line start, or with a statement pending: SQL, not a command.
        ("SELECT 1\nDELIMITER $$\n;", &["SELECT 1\nDELIMITER $$"]),
        // A chunk that is a DELIMITER command runs when the delimiter ends it, glued to the next
        // line as the client glues it.
        ("SELECT 1; delimiter $$\n SELECT 2;SELECT 3$$", &["SELECT 1", "SELECT 3"]),
        ("SELECT 1; delimiter //\nSELECT 2;SELECT 3//", &["SELECT 1", "SELECT 3//"]),
    ];
    for (sql, want) in cases {
        assert_eq!(texts(sql), *want, "input: {sql:?}");
    }
}

#[test]
fn a_custom_delimiter_chunk_is_cut_into_data_api_statements() {
    let sql = "DELIMITER $$\nDROP PROCEDURE IF EXISTS p; CREATE PROCEDURE p()\nBEGIN\n  SELECT 1; SELECT 2;\nEND$$\nSELECT 1; SELECT 2$$\n";
    let statements: Vec<_> = split(sql).map(Result::unwrap).collect();
    let got: Vec<_> = statements.iter().map(|s| (s.text, s.chunk, s.line)).collect();
    assert_eq!(
        got,
        [
            ("DROP PROCEDURE IF EXISTS p", 0, 2),
            ("CREATE PROCEDURE p()\nBEGIN\n  SELECT 1; SELECT 2;\nEND", 0, 2),
            ("SELECT 1", 1, 6),
            ("SELECT 2", 1, 6)
        ]
    );
}

#[test]
fn compound_statements_are_recognised_through_definers_and_version_comments() {
    for sql in [
        "CREATE PROCEDURE p() BEGIN END",
        "create definer=`root`@`%` procedure p() begin end",
        "CREATE OR REPLACE DEFINER = CURRENT_USER() FUNCTION f() RETURNS int RETURN 1",
        "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN END */",
        "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN END",
        "BEGIN NOT ATOMIC SELECT 1; END",
        "lbl: BEGIN SELECT 1; END",
    ] {
        assert!(starts_compound(sql), "{sql}");
    }
    for sql in
        ["CREATE TABLE event (id int)", "BEGIN", "BEGIN WORK", "CREATE TABLE `trigger` (a int)", "SELECT 1"]
    {
        assert!(!starts_compound(sql), "{sql}");
    }
}

#[test]
fn positions_are_lines_and_character_columns() {
    let sql = "-- head\n  SELECT 'é';  SELECT 2;\n\n\tSELECT\n3";
    let got: Vec<_> =
        split(sql).map(|s| s.map(|s| (s.line, s.column, s.offset))).collect::<Result<_, _>>().unwrap();
    assert_eq!(got, [(2, 3, 10), (2, 16, 24), (4, 2, 36)]);
}

#[test]
fn use_is_a_client_command() {
    let statements: Vec<_> = split("USE sakila;\nuse `odd db` ;\nSELECT 1").map(Result::unwrap).collect();
    assert_eq!(statements[0].kind, StatementKind::Use { database: "sakila".into() });
    assert_eq!(statements[1].kind, StatementKind::Use { database: "odd db".into() });
    assert_eq!(statements[2].kind, StatementKind::Sql);
    // A column named `user` or a `USER()` call is SQL, not a command.
    assert_eq!(split("user_table").next().unwrap().unwrap().kind, StatementKind::Sql);
}

#[test]
fn errors_point_at_where_the_construct_starts() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("SELECT 1;\nSELECT 'abc;\n", 2, 8, "unterminated string"),
        ("SELECT \"abc", 1, 8, "unterminated string"),
        ("SELECT `abc", 1, 8, "unterminated quoted identifier"),
        ("SELECT 1; /* x\n\n", 1, 11, "unterminated /* comment"),
        ("SELECT /* x", 1, 8, "unterminated /* comment"),
        ("SELECT /*!40101 x", 1, 8, "unterminated /*! version"),
        ("DELIMITER\nSELECT 1", 1, 1, "bad DELIMITER"),
        ("DELIMITER \\\\\n", 1, 1, "backslash"),
        ("SELECT 1;\n  source load.dump ;\n", 2, 3, "`source load.dump` is a mysql client command"),
        ("/* hello */ USE product # c\nCREATE TABLE t (a int);", 1, 13, "USE` is followed by `CREATE"),
        ("SELECT 1 \\q", 1, 10, "`\\q` is a mysql client command"),
    ];
    for (sql, line, column, message) in cases {
        let e = err(sql);
        assert_eq!((e.line, e.column), (*line, *column), "input {sql:?}: {e}");
        assert!(e.to_string().contains(message), "input {sql:?}: {e}");
    }
}

#[test]
fn client_text_drops_comments_like_the_mysql_client() {
    let cases = [
        ("SELECT 1", "SELECT 1"),
        ("SELECT 1 -- one\n, 2 # two\n", "SELECT 1 \n, 2"),
        ("SELECT/* x */1", "SELECT 1"),
        ("SELECT /* x */ 1", "SELECT  1"),
        ("SELECT '-- no', \"# no\", `/* no */`", "SELECT '-- no', \"# no\", `/* no */`"),
        ("SELECT /*!40101 1 */ /*M!100101 2 */", "SELECT /*!40101 1 */ /*M!100101 2 */"),
        ("BEGIN\n  -- Complex logic\n  SET x = 1;\nEND", "BEGIN\n  \n  SET x = 1;\nEND"),
        ("SELECT 1 --x", "SELECT 1 --x"),
    ];
    for (text, sent) in cases {
        assert_eq!(client_text(text), sent, "{text:?}");
    }
}

#[test]
fn goose_statement_blocks_are_one_statement() {
    let sql = "SELECT 1;\n-- +goose StatementBegin\nCREATE PROCEDURE p() BEGIN SELECT 1; END;\n-- +goose StatementEnd\nSELECT 2;";
    assert_eq!(texts(sql), ["SELECT 1", "CREATE PROCEDURE p() BEGIN SELECT 1; END", "SELECT 2"]);
    assert!(err("-- +goose StatementBegin\nSELECT 1;").to_string().contains("never closed"));
}

#[test]
fn a_use_line_without_delimiter_runs_at_once() {
    let statements: Vec<_> = split("USE shop\nSELECT 1;").map(Result::unwrap).collect();
    assert_eq!(statements.len(), 2);
    assert_eq!(statements[0].kind, StatementKind::Use { database: "shop".into() });
    assert_eq!(statements[1].text, "SELECT 1");
}

#[test]
fn the_last_statement_needs_no_delimiter_or_newline() {
    assert_eq!(texts("SELECT 1;\nSELECT 2"), ["SELECT 1", "SELECT 2"]);
    assert_eq!(texts("DELIMITER $$\nSELECT 1$$\nSELECT 2"), ["SELECT 1", "SELECT 2"]);
}

#[test]
fn a_range_keeps_file_positions() {
    let text = "-- up\nSELECT 1;\n-- down\nSELECT 2;\n";
    let end = text.find("-- down").unwrap();
    let statements: Vec<_> = split_range(text, 6..end).map(Result::unwrap).collect();
    assert_eq!(statements.len(), 1);
    assert_eq!((statements[0].text, statements[0].line, statements[0].offset), ("SELECT 1", 2, 6));
}

#[test]
fn at_the_start_of_a_statement_the_client_reads_dashes_without_a_space_as_a_comment() {
    assert_eq!(texts("SELECT 1;\n--note; see below\nSELECT 2;\n"), ["SELECT 1", "SELECT 2"]);
    assert_eq!(texts("SELECT 1; --note;\n  --x\n/* c */--y\nSELECT 2"), ["SELECT 1", "SELECT 2"]);
    // Inside a statement `--x` is text, as the client keeps it.
    assert_eq!(texts("SELECT 1\n--x\n;"), ["SELECT 1\n--x"]);
    // `--` before white space or a line end is a comment, before the delimiter it is text.
    let sent = |sql: &str| split(sql).map(|s| client_text(s.unwrap().text).into_owned()).collect::<Vec<_>>();
    assert_eq!(sent("SELECT 1 --\t\n;"), ["SELECT 1"]);
    assert_eq!(sent("SELECT 1 --;"), ["SELECT 1 --"]);
    assert_eq!(sent("SELECT 1 /-- --"), ["SELECT 1 /"]);
}

#[test]
fn the_client_drops_the_cr_of_every_crlf_it_sends() {
    let sql = "INSERT INTO t VALUES ('line one\r\nline two');\r\nSELECT `a\r\nb`;\r\n";
    let sent: Vec<_> = split(sql).map(|s| client_text(s.unwrap().text).into_owned()).collect();
    assert_eq!(sent, ["INSERT INTO t VALUES ('line one\nline two')", "SELECT `a\nb`"]);
}

#[test]
fn the_client_runs_a_delimiter_command_that_a_delimiter_ends_anywhere_on_a_line() {
    assert_eq!(texts("/* c */ DELIMITER $$;\nSELECT 1; SELECT 2$$"), ["SELECT 1", "SELECT 2"]);
    assert_eq!(texts("SELECT 0; DELIMITER $$;\nSELECT 1$$"), ["SELECT 0", "SELECT 1"]);
    // A comment on its line makes the client keep the line break in the delimiter: refused.
    assert!(err("SELECT 0; delimiter G #c\n;SELECT 1G").to_string().contains("line break"));
    // A line holding `\g` is no command line: the client sends it to the server.
    assert!(err("DELIMITER E \\g").to_string().contains("DELIMITER"));
    // Not ended by a delimiter, the client would send it to the server as SQL: refused.
    assert!(err("SELECT 1; DELIMITER $$\nSELECT 2$$").to_string().contains("DELIMITER"));
}

#[test]
fn the_server_ends_a_routine_at_its_last_end_inside_a_custom_delimiter_chunk() {
    let sql = "DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END; SELECT 2$$\n\
               CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a = 1; SELECT 3$$\n\
               BEGIN NOT ATOMIC SELECT 4; END; SELECT 5$$\n\
               SELECT begin FROM (SELECT 1 AS `begin`) t WHERE ':' = ':'; SELECT 6$$";
    assert_eq!(
        texts(sql),
        [
            "CREATE PROCEDURE p() BEGIN SELECT 1; END",
            "SELECT 2",
            "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a = 1",
            "SELECT 3",
            "BEGIN NOT ATOMIC SELECT 4; END",
            "SELECT 5",
            "SELECT begin FROM (SELECT 1 AS `begin`) t WHERE ':' = ':'",
            "SELECT 6",
        ]
    );
}

#[test]
fn the_server_skips_a_version_comment_for_a_newer_server_whole() {
    assert_eq!(texts("DELIMITER $$\nSELECT 1 /*!99999 ; SELECT 2 */$$"), ["SELECT 1 /*!99999 ; SELECT 2 */"]);
    // With one comment nested in it, which the server's lexer allows there.
    assert_eq!(
        texts("DELIMITER $$\n/*!99999 a/*!99999 ;*/ ; */ SELECT 1$$"),
        ["/*!99999 a/*!99999 ;*/ ; */ SELECT 1"]
    );
}

#[test]
fn the_client_follows_the_scripts_own_sql_mode_for_backslashes() {
    assert_eq!(
        texts("SET sql_mode='NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; SELECT 2;"),
        ["SET sql_mode='NO_BACKSLASH_ESCAPES'", "SELECT 'a\\'", "SELECT 2"]
    );
    assert_eq!(
        texts("SET sql_mode='ANSI_QUOTES'; SELECT \"a\\\"; SELECT 'b\\';'; SET sql_mode=''; SELECT 'c\\';';"),
        [
            "SET sql_mode='ANSI_QUOTES'",
            "SELECT \"a\\\"",
            "SELECT 'b\\';'",
            "SET sql_mode=''",
            "SELECT 'c\\';'"
        ]
    );
}

#[test]
fn the_client_knows_the_short_forms_of_use_delimiter_and_clear() {
    let statements: Vec<_> = split("\\u shop\n\\d $$\nSELECT 1; SELECT 2$$\nSELECT 3 \\c SELECT 4$$")
        .map(Result::unwrap)
        .collect();
    assert_eq!(statements[0].kind, StatementKind::Use { database: "shop".into() });
    let texts: Vec<_> = statements[1..].iter().map(|s| s.text).collect();
    assert_eq!(texts, ["SELECT 1", "SELECT 2", "SELECT 4"]);
    assert!(err("SELECT 1 \\u db;").to_string().contains("`\\u` is a mysql client command"));
}

#[test]
fn the_client_strips_trailing_control_characters_and_a_backslash_ending_a_line() {
    assert_eq!(texts("SELECT 1;\n\x1a"), ["SELECT 1"]);
    let sent: Vec<_> =
        split("SELECT 1 \\\n+ 1;\nSELECT 2\x1a").map(|s| client_text(s.unwrap().text).into_owned()).collect();
    assert_eq!(sent, ["SELECT 1 \n+ 1", "SELECT 2"]);
    assert_eq!(client_text("-\\"), "-", "also after a lone dash at the end of the file");
    // Nor after a line that starts like a DELIMITER command, even inside a statement.
    let sent: Vec<_> = split("SELECT 1,\ndelimiter_col\r\nFROM t;\nSELECT 'a\ndelimiter'\n;")
        .map(|s| client_text(s.unwrap().text).into_owned())
        .collect();
    assert_eq!(sent, ["SELECT 1,\ndelimiter_colFROM t", "SELECT 'a\ndelimiter'"]);
    // An unknown one-letter command stays in the text with its character, even a delimiter.
    assert_eq!(texts("SELECT 1 \\; SELECT 2;"), ["SELECT 1 \\; SELECT 2"]);
}

#[test]
fn delimiters_the_client_cannot_match_are_refused() {
    assert!(err("DELIMITER 💩\n").to_string().contains("multibyte"));
    assert!(err("DELIMITER 0123456789abcdef\n").to_string().contains("15 bytes"));
}

#[test]
fn use_reads_its_argument_as_the_client_does() {
    assert_eq!(split("/**/USE/``;").next().unwrap().unwrap().kind, StatementKind::Sql);
    let kinds: Vec<_> = split("USE `fz``q`;\nuse shop\\g\nUSE`x`;").map(|s| s.unwrap().kind).collect();
    assert_eq!(
        kinds,
        [
            StatementKind::Use { database: "fz`q".into() },
            StatementKind::Use { database: "shop".into() },
            StatementKind::Use { database: "x".into() },
        ]
    );
}

#[test]
fn the_client_keeps_a_cr_or_tab_in_an_unquoted_delimiter_argument() {
    // The argument runs to a space only: `Delimiter\t$\r;` would make `$<CR>;` the delimiter.
    assert!(err("  Delimiter\t$\r;\nSELECT 1$").to_string().contains("control character"));
    assert!(err("DELIMITER $$\t\nSELECT 1$$").to_string().contains("control character"));
    // The CR of a CRLF line end is no part of it; white space before the argument is skipped.
    assert_eq!(texts("DELIMITER\t\x0b$$\r\nSELECT 1$$\r\n"), ["SELECT 1"]);
}

#[test]
fn the_client_forgets_an_open_version_comment_at_the_end_of_each_line() {
    // Inside a comment, a `/*!` keeps the next `*/` from closing it on its own line only.
    assert_eq!(texts("/*/*!\n*/ SELECT 1;"), ["SELECT 1"]);
    assert_eq!(texts("/* /*! */ x */ SELECT 1;"), ["SELECT 1"]);
    // A `/* */` on a later line of a version comment is a plain comment for the client too.
    assert_eq!(texts("/*!40101 SELECT 1\n/* c */ */;"), ["/*!40101 SELECT 1\n/* c */ */"]);
    assert_eq!(texts("/*M!100101 SELECT 1 /* c */ */;"), ["/*M!100101 SELECT 1 /* c */ */"]);
    // On the line of the `/*!`, even past a delimiter, the client reads it otherwise: refused.
    assert!(err("/*!40101 SELECT 1 /* c */ */;").to_string().contains("version comment"));
    assert!(err("/*!50003 SET @a=1; SET @b=2 /* c */ */;").to_string().contains("version comment"));
    assert!(err("/*!50003 SET @a=1; /* c */ */;").to_string().contains("version comment"));
}

#[test]
fn the_client_reads_the_star_closing_a_version_comment_alone() {
    // `*/` ends the version comment at its `*`; the `/` may begin the delimiter.
    assert_eq!(texts("delimiter //\n/*!*//SELECT 2//"), ["/*!*", "SELECT 2"]);
}

#[test]
fn the_client_drops_only_the_cr_of_a_line_end() {
    let sent = |sql: &str| split(sql).map(|s| client_text(s.unwrap().text).into_owned()).collect::<Vec<_>>();
    // A CR left before a stripped `--` comment is no CRLF line end: it is sent.
    assert_eq!(sent("SELECT 1 +\r--\n2;"), ["SELECT 1 +\r\n2"]);
    assert_eq!(sent("SELECT 1 +\r\n2;\r\n"), ["SELECT 1 +\n2"]);
}

#[test]
fn a_comment_before_a_delimiter_command_on_its_line_makes_the_client_keep_the_line_break() {
    // The client checks its kept text for the command word, and a `/* */` leaves a space there.
    assert!(err("/**/Delimiter\t$\n;S$E").to_string().contains("line break"));
    assert!(err("SELECT 0; /* c */ DELIMITER $$\n;SELECT 1$$").to_string().contains("line break"));
    assert!(err("/* x */ DELIMITER $$\n;SELECT 1$$").to_string().contains("line break"));
    // Also past a delimiter: the client puts the space before the next character it keeps.
    assert!(err("/* c */; DELIMITER $$\n;SELECT 1$$").to_string().contains("line break"));
    assert!(err("SELECT 0 /* c */; DELIMITER $$\n;SELECT 1$$").to_string().contains("line break"));
    // A version comment's `*/` is kept text, and so is anything after a comment.
    assert_eq!(
        texts("/*!40101 SELECT 0 */; DELIMITER $$\n;SELECT 1$$"),
        ["/*!40101 SELECT 0 */", "SELECT 1"]
    );
    assert_eq!(texts("SELECT /* c */ 0; DELIMITER $$\n;SELECT 1$$"), ["SELECT /* c */ 0", "SELECT 1"]);
}

#[test]
fn the_client_runs_its_sandbox_command_itself() {
    // `\-` (sandbox, at the top of mariadb-dump files) never reaches the server from the client.
    let sent = |sql: &str| split(sql).map(|s| client_text(s.unwrap().text).into_owned()).collect::<Vec<_>>();
    assert_eq!(sent("SELECT 1 \\-;"), ["SELECT 1"]);
    assert_eq!(sent("\x0b-\\-  ;"), ["-"]);
    assert_eq!(
        sent("/*M!999999\\- enable the sandbox mode */\nSELECT 1;"),
        ["/*M!999999 enable the sandbox mode */\nSELECT 1"]
    );
}

#[test]
fn the_client_drops_a_backslash_ending_a_line_and_keeps_one_before_a_lone_cr() {
    // `use\` is no client command, but the server gets `use\n db`: a USE all the same.
    let statements: Vec<_> = split("use\\\n fz2;\nSELECT 1;").map(Result::unwrap).collect();
    assert_eq!(statements[0].kind, StatementKind::Use { database: "fz2".into() });
    assert_eq!(statements[1].text, "SELECT 1");
    // A backslash before a CR that ends no line is an unknown command: both characters are sent.
    let sent: Vec<_> =
        split("\\\ru fz2\nSELECT 1;").map(|s| client_text(s.unwrap().text).into_owned()).collect();
    assert_eq!(sent, ["\\\ru fz2\nSELECT 1"]);
}

#[test]
fn a_use_sent_with_backslash_g_is_read_by_the_server() {
    // The server reads no control character in a name: such a USE is SQL it refuses.
    let statements: Vec<_> = split("use f\x0bz\\g\nSELECT 1;").map(Result::unwrap).collect();
    assert_eq!(statements[0].kind, StatementKind::Sql);
    assert_eq!(statements[0].text, "use f\x0bz");
    // Nor a backslash: the client would take the character after it into the name.
    let statements: Vec<_> = split("use fz2\\:\\g\nuse `fz``q`\\g\n").map(Result::unwrap).collect();
    assert_eq!(statements[0].kind, StatementKind::Sql);
    assert_eq!(statements[1].kind, StatementKind::Use { database: "fz`q".into() });
    // At the end of the file the client sends `use fz2;` as it is; the server drops the `;`.
    let last = split("DELIMITER $$\nSELECT 1$$ use fz2;\n").last().unwrap().unwrap();
    assert_eq!(last.kind, StatementKind::Use { database: "fz2".into() });
    // With a delimiter the client runs it itself.
    assert_eq!(
        split("use f\x0bz;").next().unwrap().unwrap().kind,
        StatementKind::Use { database: "f\x0bz".into() }
    );
}

#[test]
fn a_backslash_the_client_drops_leaves_no_statement() {
    // The server runs `DO 1` and fails the empty statements after it; the backslash is no statement.
    assert_eq!(texts("DELIMITER ;;\nDO 1\n;\\\n;\n"), ["DO 1"]);
    let statements: Vec<_> = split("DELIMITER ;;\nDO 1;\\\n;;").map(|s| s.unwrap().text).collect();
    assert_eq!(statements, ["DO 1"]);
}

#[test]
fn the_server_reads_dashes_before_a_control_character_as_a_comment() {
    let sql = "DELIMITER $$\n/*M!100101 SELECT 1\n+ --\x01 ; \n 2 */$$";
    assert_eq!(texts(sql), ["/*M!100101 SELECT 1\n+ --\x01 ; \n 2 */"]);
}

#[test]
fn a_use_the_client_sends_is_a_use_only_where_the_server_reads_a_name() {
    let kinds: Vec<_> = split("/*! */ USE \n--note;\n/**/USE`fz2`;").map(|s| s.unwrap().kind).collect();
    assert_eq!(kinds, [StatementKind::Sql, StatementKind::Use { database: "fz2".into() }]);
    // The server ends the name at any white space (the client's argument runs to a space): text
    // after it is refused, as after the client's USE.
    assert!(matches!(err("/*M!100101 */use fz2\nSELECT 1;").kind, SplitErrorKind::TextAfterUse(_)));
}

#[test]
fn the_client_keeps_a_backslash_ending_a_line_in_a_string_where_it_escapes_nothing() {
    let sent = |sql: &str| split(sql).map(|s| s.unwrap().sent().into_owned()).collect::<Vec<_>>();
    // Where a backslash escapes, the client drops one that ends a line inside a string.
    assert_eq!(sent("SELECT 'a\\\nb';"), ["SELECT 'a\nb'"]);
    // Under NO_BACKSLASH_ESCAPES, in double quotes under ANSI_QUOTES and in backticks it is a plain
    // character, and the client keeps it.
    assert_eq!(
        sent("SET sql_mode='NO_BACKSLASH_ESCAPES';\nSELECT 'a\\\nb', \"c\\\nd\";"),
        ["SET sql_mode='NO_BACKSLASH_ESCAPES'", "SELECT 'a\\\nb', \"c\\\nd\""]
    );
    assert_eq!(
        sent("SET sql_mode='ANSI_QUOTES';\nSELECT \"e\\\nf\", 'g\\\nh', `i\\\nj`;"),
        ["SET sql_mode='ANSI_QUOTES'", "SELECT \"e\\\nf\", 'g\nh', `i\\\nj`"]
    );
    // A chunk is read by the client under the mode in force before it, even when a statement in
    // it changes the mode for the server.
    assert_eq!(
        sent("DELIMITER $$\nSET sql_mode='NO_BACKSLASH_ESCAPES'; SELECT 'a\\\nb'$$"),
        ["SET sql_mode='NO_BACKSLASH_ESCAPES'", "SELECT 'a\nb'"]
    );
}

#[test]
fn the_client_sends_a_delimiter_chunk_holding_backslash_g_anywhere_to_the_server() {
    // Before it runs a chunk as a client command, the client looks for `\g` anywhere in the text it
    // kept, inside quotes too; with one there it sends the chunk to the server as SQL.
    let e = err("SELECT 1; delimiter $$ '\\g'\n;SELECT 2$$");
    assert!(e.to_string().contains("`\\g`"), "{e}");
    // In a comment the client did not keep it: the command runs.
    assert_eq!(texts("SELECT 1; delimiter $$\n/* \\g */;SELECT 2$$"), ["SELECT 1", "SELECT 2"]);
}

#[test]
fn the_client_keeps_a_backslash_before_white_space_at_the_end_of_a_statement() {
    // `\ ` is an unknown client command: the client keeps both characters and trims the space only
    // when it sends the chunk, so the server gets the backslash.
    let sent = |sql: &str| split(sql).map(|s| s.unwrap().sent().into_owned()).collect::<Vec<_>>();
    assert_eq!(sent("SELECT 1;\n\\ "), ["SELECT 1", "\\"]);
    assert_eq!(sent("SELECT 1 \\\t;"), ["SELECT 1 \\"]);
    // At the end of a line it is dropped.
    assert_eq!(sent("SELECT 1 \\\n;"), ["SELECT 1"]);
}

#[test]
fn the_client_looks_for_a_delimiter_command_in_what_it_kept_of_a_line_after_a_comment() {
    // The line `DELIMITERg */` closes a comment opened on the line before: the client keeps nothing
    // of it, so it adds the line break as after any other line.
    let sent = |sql: &str| split(sql).map(|s| s.unwrap().sent().into_owned()).collect::<Vec<_>>();
    assert_eq!(sent("SELECT 1,\n/* \nDELIMITERg */\n2;"), ["SELECT 1,\n\n2"]);
    assert_eq!(sent("SELECT 1,\ndelimiter_col\n, 2;"), ["SELECT 1,\ndelimiter_col, 2"]);
}

#[test]
fn a_dash_taken_by_the_sandbox_command_starts_no_comment() {
    // `\-` takes the first dash of `--`, so the client sends `- u fz2` (and drops the `--` that ends
    // the line).
    let sent = |sql: &str| split(sql).map(|s| s.unwrap().sent().into_owned()).collect::<Vec<_>>();
    assert_eq!(sent("\\-- u fz2--\n"), ["- u fz2"]);
    assert_eq!(sent("\\--  \\g\n"), ["-"]);
}

#[test]
fn a_use_inside_a_custom_delimiter_chunk_belongs_to_the_chunk_the_client_sends() {
    let statements: Vec<_> = split("DELIMITER $$\nSELECT 1; USE fz2; SELECT 2$$\nSELECT 3$$")
        .map(Result::unwrap)
        .map(|s| (s.text, s.chunk))
        .collect();
    assert_eq!(statements, [("SELECT 1", 0), ("USE fz2", 0), ("SELECT 2", 0), ("SELECT 3", 1)]);
}

#[test]
fn the_client_checks_a_line_for_a_delimiter_command_outside_comments_only() {
    // `/*` inside a string is no comment: the line still starts like a DELIMITER command, and the
    // client adds no line break after it.
    let sent = |sql: &str| split(sql).map(|s| s.unwrap().sent().into_owned()).collect::<Vec<_>>();
    assert_eq!(sent("SELECT 'a\nDELIMITER' '/*'\n+ 1;"), ["SELECT 'a\nDELIMITER' '/*'+ 1"]);
}

#[test]
fn dashes_before_a_control_character_with_a_quote_after_them_are_refused() {
    // The server reads `--\x01` as a comment, the client reads the quote after it as a string: the
    // client sends `DO 1 --\x01 'q\n; DO '` as one packet, which the server runs as two statements.
    let e = err("DO 1 --\x01 'q\n; DO ';\nDO 3;");
    assert_eq!((e.line, e.column), (1, 6));
    assert!(e.to_string().contains("control character"), "{e}");
    // Without a quote both end the statement at the same place.
    assert_eq!(texts("DO 1 --\x01 q\n;DO 2;"), ["DO 1 --\x01 q", "DO 2"]);
}

#[test]
fn the_client_ends_an_unquoted_command_argument_at_a_space_only() {
    let kinds = |sql: &str| split(sql).map(|s| s.unwrap().kind).collect::<Vec<_>>();
    let db = |name: &str| StatementKind::Use { database: name.into() };
    // A tab, a vertical tab or a line break stays in the name (the server then refuses it).
    assert_eq!(kinds("use fz2\tx;\nuse fz2\t;"), [db("fz2\tx"), db("fz2\t")]);
    assert_eq!(kinds("SELECT 0; use fz2\nx;")[1], db("fz2\nx"));
    assert_eq!(kinds("\\u fz2\tx\n"), [db("fz2\tx")]);
    assert_eq!(kinds("use fz2 ;\n\\u fz2 x\n"), [db("fz2"), db("fz2")]);
    // White space before the argument, a lone CR too, is skipped.
    assert_eq!(kinds("\\u \rfz2\n"), [db("fz2")]);
    // So does it in a delimiter, which the client then never matches: refused.
    assert!(err("\\d E\tND_X\nSELECT 1E\tND_X").to_string().contains("tab"));
}

#[test]
fn after_a_comment_the_client_puts_its_space_after_an_unknown_command() {
    // After `/* */` the client owes a space before the next character it keeps, but copies `\N` or
    // an unknown `\x` without paying it.
    let sent = |sql: &str| split(sql).map(|s| s.unwrap().sent().into_owned()).collect::<Vec<_>>();
    assert_eq!(sent("SELECT /**/\\N, 1;"), ["SELECT \\N , 1"]);
    // Also when the comment comes before the statement on its line.
    assert_eq!(sent("SELECT 0; /* c */\\ SELECT 1;"), ["SELECT 0", "\\  SELECT 1"]);
    assert_eq!(sent("/* c */SELECT 1;\n/* c */\n\\ SELECT 2;"), ["SELECT 1", "\\ SELECT 2"]);
    // A comment opened on a line before and closed on the statement's line counts too.
    assert_eq!(sent("/* c\n*/\\ SELECT 1;"), ["\\  SELECT 1"]);
}
