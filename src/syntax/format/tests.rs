use super::Formatter;
use crate::source::FileId;

/// Formats `input`, expects `expected`, and checks that formatting that again changes nothing.
fn check(input: &str, expected: &str) {
    let out = Formatter::format(FileId(0), input).expect("formats");
    assert_eq!(out, expected, "formatting:\n{input}");
    let again = Formatter::format(FileId(0), &out).expect("formats again");
    assert_eq!(again, out, "not idempotent");
}

#[test]
fn minimal_pipeline() {
    check(
        "pipeline p { stage a { action x: sh { run = \"true\" } } }",
        "pipeline p {\n  stage a {\n    action x: sh { run = \"true\" }\n  }\n}\n",
    );
}

#[test]
fn crlf_and_a_byte_order_mark_become_plain_newlines() {
    check(
        "\u{feff}pipeline p {\r\n  // c\r\n  stage a { action x: sh { run = \"x\" } }\r\n}\r\n",
        "pipeline p {\n  // c\n  stage a {\n    action x: sh { run = \"x\" }\n  }\n}\n",
    );
}

#[test]
fn tabs_are_indentation_like_spaces() {
    check(
        "pipeline p {\n\tstage a {\n\t\taction x: sh { run = \"x\" }\n\t}\n}\n",
        "pipeline p {\n  stage a {\n    action x: sh { run = \"x\" }\n  }\n}\n",
    );
}

#[test]
fn a_block_string_indented_with_tabs_is_kept_as_written() {
    let input = "pipeline p {\n\tstage a {\n\t\taction x: sh {\n\t\t\trun = \"\"\"\n\t\t\t\techo\n\t\t\t\t\"\"\"\n\t\t}\n\t}\n}\n";
    check(
        input,
        "pipeline p {\n  stage a {\n    action x: sh {\n      run = \"\"\"\n\t\t\t\techo\n\t\t\t\t\"\"\"\n    }\n  }\n}\n",
    );
}

#[test]
fn a_block_string_moves_with_its_line() {
    check(
        "template t(): sh {\n        run = \"\"\"\n          a\n\n            b\n          \"\"\"\n}\n",
        "template t(): sh {\n  run = \"\"\"\n    a\n\n      b\n    \"\"\"\n}\n",
    );
}

#[test]
fn a_group_fits_in_exactly_100_columns() {
    // `  param l: list<string> = [` is 27 columns, each `"xxxxxxxx", ` 12 more, the last
    // element and `]` 13.
    let items = |n: usize| vec!["\"xxxxxxxx\""; n].join(", ");
    let fits = format!(
        "pipeline p {{\n  param l: list<string> = [{}, \"xxxxxxxxxx\"]\n}}\n",
        items(5)
    );
    assert_eq!(fits.lines().nth(1).map(|l| l.chars().count()), Some(100));
    check(&fits, &fits);
    let long = fits.replace("\"xxxxxxxxxx\"", "\"xxxxxxxxxxx\"");
    let broken = format!(
        "pipeline p {{\n  param l: list<string> = [\n{}    \"xxxxxxxxxxx\",\n  ]\n}}\n",
        "    \"xxxxxxxx\",\n".repeat(5)
    );
    check(&long, &broken);
}

#[test]
fn a_long_condition_breaks_before_its_operators() {
    check(
        "pipeline p { stage a { action x: sh { run = \"x\"  when = run.branch == \"main\" && run.tag != \"\" || contains(params.flags, \"a-long-flag-name\") || params.n > 10 } } }",
        "pipeline p {\n  stage a {\n    action x: sh {\n      run = \"x\"\n      when = run.branch == \"main\"\n        && run.tag != \"\"\n        || contains(params.flags, \"a-long-flag-name\")\n        || params.n > 10\n    }\n  }\n}\n",
    );
}

#[test]
fn trailing_comments_of_consecutive_lines_are_aligned() {
    check(
        "pipeline p {\n  mode queued // a\n  timeout 1h30m // b\n                // b, continued\n\n  param n: int = 1 // c\n}\n",
        "pipeline p {\n  mode queued   // a\n  timeout 1h30m // b\n                // b, continued\n\n  param n: int = 1 // c\n}\n",
    );
}

#[test]
fn syntax_errors_are_returned_not_formatted() {
    let errors = Formatter::format(FileId(3), "pipeline p { stage }").expect_err("refused");
    assert_eq!(errors[0].code.as_str(), "E0101");
    assert_eq!(errors[0].primary.span.file, FileId(3));
}

#[test]
fn a_blank_line_before_a_closing_brace_is_dropped_not_moved() {
    check(
        "pipeline p {\n  stage a {\n    action x: sh {\n      run = \"x\"\n\n    }\n    action y: sh { run = \"y\" }\n\n  }\n\n  stage b { action z: sh { run = \"z\" } }\n}\n",
        "pipeline p {\n  stage a {\n    action x: sh { run = \"x\" }\n    action y: sh { run = \"y\" }\n  }\n\n  stage b {\n    action z: sh { run = \"z\" }\n  }\n}\n",
    );
}

#[test]
fn block_strings_move_only_when_their_value_stays() {
    use super::text::shift_block;
    let raw = "\"\"\"\n    a\n\n      b\n    \"\"\"";
    assert_eq!(
        shift_block(raw, 2).as_deref(),
        Some("\"\"\"\n      a\n\n        b\n      \"\"\"")
    );
    assert_eq!(
        shift_block(raw, -4).as_deref(),
        Some("\"\"\"\na\n\n  b\n\"\"\"")
    );
    // More than the common indentation, text after the quotes, only blank lines, tabs.
    assert_eq!(shift_block(raw, -5), None);
    assert_eq!(shift_block("\"\"\"a\n  b\"\"\"", 2), None);
    assert_eq!(shift_block("\"\"\"\n   \n  \"\"\"", 2), None);
    assert_eq!(shift_block("\"\"\"\n\ta\n\t\"\"\"", 2), None);
}

/// A byte-order mark before a `///` doc comment: the doc is the template's, with or without
/// the mark (the formatter drops it), so the syntax trees agree.
#[test]
fn a_byte_order_mark_before_a_doc_comment() {
    check(
        "\u{feff}/// Builds.\ntemplate b(): sh { run = \"make\" }\n",
        "/// Builds.\ntemplate b(): sh {\n  run = \"make\"\n}\n",
    );
}

/// A block string whose last line holds a carriage return before the closing quotes: that
/// line is not whitespace-only layout (LANGUAGE.md §2 drops spaces and tabs only), so its
/// text stays in the value and a shift keeps it.
#[test]
fn a_block_string_whose_last_line_holds_a_carriage_return() {
    for last in ["\r \"\"\"", "  \r \"\"\"", "\r        \"\"\""] {
        let input = format!(
            "pipeline p {{\n  stage s {{\n    action a: sh {{\nrun = \"\"\"\n        echo hi\n{last}\n    }}\n  }}\n}}\n"
        );
        let out = Formatter::format(FileId(0), &input).expect("formats");
        let again = Formatter::format(FileId(0), &out).expect("formats again");
        assert_eq!(again, out, "not idempotent");
    }
}
