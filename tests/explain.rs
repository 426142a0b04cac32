//! Every code's explanation (`docs/errors/CODE.md`, printed by `pipec explain`) has a
//! failing example that yields exactly that code and a fixed example that is clean.

use std::collections::BTreeSet;

use pipec::diagnostics::Code;

use crate::support::check_text;

/// The fenced `pipe` code blocks of a Markdown page.
fn pipe_blocks(md: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in md.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```pipe") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap_or_default()),
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn codes_of(text: &str) -> BTreeSet<Code> {
    let (_, diags) = check_text("example.pipe", text);
    diags.iter().map(|d| d.code).collect()
}

/// E0206 is reported when binding run-time params, not by `check`.
fn run_codes(text: &str) -> BTreeSet<Code> {
    let mut map = pipec::source::SourceMap::new();
    let id = map.add("example.pipe", text);
    let out = pipec::compile(&mut map, id, &mut pipec::check::NoLoader);
    let ir = out.ir.expect("the E0206 example checks clean");
    match pipec::params::bind(&ir, &[]) {
        Ok(_) => BTreeSet::new(),
        Err(diags) => diags.iter().map(|d| d.code).collect(),
    }
}

/// The codes of `pipec compile --target codepipeline` (E05xx, W0005): the checker's, then
/// the export's.
fn export_codes(text: &str) -> BTreeSet<Code> {
    let mut map = pipec::source::SourceMap::new();
    let id = map.add("example.pipe", text);
    let out = pipec::compile(&mut map, id, &mut pipec::check::NoLoader);
    let mut codes: BTreeSet<Code> = out.diagnostics.iter().map(|d| d.code).collect();
    if let Some(ir) = out.ir {
        let opts = pipec::export::codepipeline::Options::default();
        match pipec::export::codepipeline::export(&ir, Some(&map), &opts) {
            Ok(e) => codes.extend(e.warnings.iter().map(|d| d.code)),
            Err(diags) => codes.extend(diags.iter().map(|d| d.code)),
        }
    }
    codes
}

fn is_export_code(code: Code) -> bool {
    code.as_str().starts_with("E05") || code == Code::W0005
}

#[test]
fn every_explanation_has_a_title_and_two_examples() {
    for code in Code::ALL {
        let md = code.explanation();
        assert!(
            md.starts_with(&format!("# {code}: ")),
            "{code}: the page starts with `# {code}: title`"
        );
        assert!(
            md.contains("## Example") && md.contains("## Why") && md.contains("## Fix"),
            "{code}: sections"
        );
        assert_eq!(
            pipe_blocks(md).len(),
            2,
            "{code}: a failing and a fixed example"
        );
    }
}

#[test]
fn failing_examples_yield_exactly_their_code() {
    for code in Code::ALL {
        let blocks = pipe_blocks(code.explanation());
        let got = if *code == Code::E0206 {
            run_codes(&blocks[0])
        } else if is_export_code(*code) {
            export_codes(&blocks[0])
        } else {
            codes_of(&blocks[0])
        };
        assert_eq!(got, BTreeSet::from([*code]), "{code}: failing example");
    }
}

#[test]
fn fixed_examples_are_clean() {
    for code in Code::ALL {
        let blocks = pipe_blocks(code.explanation());
        assert_eq!(
            codes_of(&blocks[1]),
            BTreeSet::new(),
            "{code}: fixed example"
        );
        if is_export_code(*code) {
            assert_eq!(
                export_codes(&blocks[1]),
                BTreeSet::new(),
                "{code}: fixed example compiles for CodePipeline"
            );
        }
        if *code == Code::E0206 {
            assert_eq!(
                run_codes(&blocks[1]),
                BTreeSet::new(),
                "{code}: fixed example binds"
            );
        }
    }
}
