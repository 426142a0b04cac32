use super::Parser;
use crate::source::FileId;

fn codes(src: &str) -> Vec<(String, usize)> {
    let (_, diags) = Parser::parse(FileId(0), src);
    diags
        .iter()
        .map(|d| (d.code.to_string(), d.primary.span.start as usize))
        .collect()
}

#[test]
fn parses_minimal_pipeline() {
    assert_eq!(
        codes("pipeline p { stage a { action x: sh { run = \"true\" } } }"),
        vec![]
    );
}

/// The helps of E0101 look at the words around the error: multi-byte characters there are
/// never cut.
#[test]
fn helps_around_multi_byte_characters_do_not_panic() {
    for text in [
        "pipeline p {\n  stage é-x { action a: sh { run = \"x\" } }\n}\n",
        "pipeline p {\n  stage s {\n    éonFailure = 1\n  }\n}\n",
        "pipeline p {\n  stage s {\n    action a: sh { run = \"${é:-x}\" }\n  }\n}\n",
        "stage ü-ß",
    ] {
        let (_, diags) = super::Parser::parse(crate::source::FileId(0), text);
        assert!(!diags.is_empty(), "{text}");
    }
}

/// A node's span ends at its last token, not after the whitespace (a byte-order mark
/// included) and comments pest skipped while trying an optional part.
#[test]
fn spans_end_at_the_last_token() {
    let text = "pipeline p {\n  param a: string\u{feff} /* x */ /// y\n  param b: int = 1\n}\n";
    let (file, diags) = Parser::parse(FileId(0), text);
    assert!(diags.is_empty(), "{diags:?}");
    let crate::ast::Item::Pipeline(p) = &file.items[0] else {
        panic!("a pipeline")
    };
    let crate::ast::PipelineItem::Param(a) = &p.items[0] else {
        panic!("a param")
    };
    assert_eq!(&text[a.span.range()], "param a: string");
}
