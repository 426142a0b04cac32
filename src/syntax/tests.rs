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
