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

/// The source text of every param's span and type and of every action attribute's span and
/// value.
fn spans(src: &str) -> Vec<&str> {
    use crate::ast::{AttrValue, Item, PipelineItem, StageItem};
    let (file, diags) = Parser::parse(FileId(0), src);
    assert!(diags.is_empty(), "{diags:?}");
    let text = |s: crate::source::Span| &src[s.start as usize..s.end as usize];
    let mut out = Vec::new();
    for item in &file.items {
        let Item::Pipeline(p) = item else { continue };
        for it in &p.items {
            match it {
                PipelineItem::Param(param) => out.extend([text(param.span), text(param.ty.span)]),
                PipelineItem::Stage(stage) => {
                    for si in &stage.items {
                        let StageItem::Action(a) = si else { continue };
                        for attr in &a.attrs {
                            out.push(text(attr.span));
                            if let AttrValue::Expr(e) = &attr.value {
                                out.push(text(e.span));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn spans_end_at_the_last_token_not_at_a_comment_after_it() {
    let src = "pipeline p {\n  param q: string /* c */\n  stage a { action x: sh {\n    run = \"http://x\" // c\n    when = nope // see\n    env = { A = \"/*\" } /* c */ } }\n}\n";
    assert_eq!(
        spans(src),
        vec![
            "param q: string",
            "string",
            "run = \"http://x\"",
            "\"http://x\"",
            "when = nope",
            "nope",
            "env = { A = \"/*\" }",
            "{ A = \"/*\" }",
        ]
    );
}

/// Whitespace and comments in every form the grammar's one `WHITESPACE` rule takes: a line
/// break and its indentation, tabs, CRLF, a byte-order mark, `/* */` (also `/***/` and one
/// that holds `/*`), `//` up to the end of the file, and before punctuation (`.`, `(`, `"`).
#[test]
fn whitespace_and_comments_stand_between_any_tokens() {
    let src = "\u{feff}pipeline p {\r\n\tparam a: string = \"x\"\r\n  stage s /***/ {\n    action x: sh { run = /* a /* b */ \"echo\" env = { A = params /* . */ . // x\n      a } when = contains( /**/ [\"x\"] , \"x\" ) }\n  }\n}\n// the end";
    assert_eq!(codes(src), vec![]);
    let (file, _) = Parser::parse(FileId(0), src);
    let crate::ast::Item::Pipeline(p) = &file.items[0] else {
        panic!("a pipeline");
    };
    assert_eq!(p.items.len(), 2);
}

/// The E0101 message of `pipeline p { stage s { action a: sh { run = "x" ATTRS } } }`.
fn expected_in_action(attrs: &str) -> String {
    let src = format!(
        "pipeline p {{\n  stage s {{\n    action a: sh {{ run = \"x\" {attrs} }}\n  }}\n}}\n"
    );
    let (_, diags) = Parser::parse(FileId(0), &src);
    assert_eq!(diags.len(), 1, "{attrs}: {diags:?}");
    diags[0].message.clone()
}

/// The grammar is shaped for speed (an operand tries `!` after its primary, a list ends
/// without trying an element at its `]`, a call is a name followed by its arguments): the
/// literals tried where parsing fails, hence the expected tokens, stay those of the plain
/// grammar.
#[test]
fn expected_tokens_after_names_operands_lists_and_calls() {
    let cases = [
        (
            "input = art0 :",
            "expected `!=`, `&&`, `(`, `.`, `<=`, `<`, `==`, `>=`, `>`, `from`, `in`, `matches`, `||`, `}` or a name, found `:`",
        ),
        (
            "when = a == b :",
            "expected `!=`, `&&`, `(`, `.`, `<=`, `<`, `==`, `>=`, `>`, `in`, `matches`, `||`, `}` or a name, found `:`",
        ),
        (
            "after = [a :]",
            "expected `!=`, `&&`, `.`, `<=`, `<`, `==`, `>=`, `>`, `]`, `in`, `matches`, `||` or a value, found `:`",
        ),
        (
            "after = [a, b :]",
            "expected `!=`, `&&`, `.`, `<=`, `<`, `==`, `>=`, `>`, `]`, `in`, `matches`, `||` or a value, found `:`",
        ),
        ("when = a && !", "expected a value, found `}`"),
        (
            "when = f(a.b, g(h)) || x.y (",
            "expected `!=`, `&&`, `.`, `<=`, `<`, `==`, `>=`, `>`, `in`, `matches`, `||`, `}` or a name, found `(`",
        ),
        (
            "when = f(a.b, g(h) ]",
            "expected `!=`, `&&`, `)`, `<=`, `<`, `==`, `>=`, `>`, `in`, `matches` or `||`, found `]`",
        ),
        ("when = f (", "expected `)` or a value, found `}`"),
        (
            "when = a.b.c(d)",
            "expected `!=`, `&&`, `.`, `<=`, `<`, `==`, `>=`, `>`, `in`, `matches`, `||` or `}`, found `(`",
        ),
    ];
    for (attrs, want) in cases {
        assert_eq!(expected_in_action(attrs), want, "{attrs}");
    }
}
