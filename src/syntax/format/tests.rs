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
