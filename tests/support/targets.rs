//! What the tests of the YAML targets (GitHub, GitLab, Argo) share: every example compiled or
//! refused with its documented codes, and the pipelines that compile.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pipec::diagnostics::{Code, Diagnostic};
use pipec::export::Exported;
use pipec::source::SourceMap;

use super::render_human;
use crate::codepipeline::example_files;

/// An export of a file: its source map, its checker's diagnostics, the target's answer.
pub(crate) type Export = (
    SourceMap,
    Vec<Diagnostic>,
    Result<Exported, Vec<Diagnostic>>,
);

/// Every example with the error codes it is refused with (`None`: it compiles).
pub(crate) type Examples = [(&'static str, Option<&'static [Code]>)];

/// Each example's report (its file stem and text, for a snapshot): the warnings and the
/// output, or the errors, whose codes must be the documented ones. Fails unless `examples`
/// lists every example.
pub(crate) fn example_reports(
    examples: &Examples,
    export_file: impl Fn(&Path) -> Export,
) -> Vec<(String, String)> {
    let listed: Vec<&str> = examples.iter().map(|(p, _)| *p).collect();
    let files: Vec<String> = example_files()
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, listed, "EXAMPLES lists every example");
    let mut reports = Vec::new();
    for (path, expected) in examples {
        let (map, _, out) = export_file(Path::new(path));
        let name = Path::new(path)
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let report = match (&out, expected) {
            (Ok(e), None) => {
                let warnings = render_human(&map, &e.warnings);
                format!("{warnings}\n---- output ----\n{}", e.text)
            }
            (Err(errors), Some(codes)) => {
                let got: BTreeSet<Code> = errors
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| d.code)
                    .collect();
                assert_eq!(got, codes.iter().copied().collect(), "{path}");
                render_human(&map, errors)
            }
            (Ok(_), Some(codes)) => panic!("{path} compiled, expected {codes:?}"),
            (Err(errors), None) => panic!("{path}:\n{}", render_human(&map, errors)),
        };
        reports.push((name, report));
    }
    reports
}

/// Every pipeline (path and output) of the examples that compile and of the `ok_` fixtures
/// in `fixtures`.
pub(crate) fn compiled(
    examples: &Examples,
    fixtures: &str,
    export_file: impl Fn(&Path) -> Export,
) -> Vec<(String, String)> {
    let mut files: Vec<PathBuf> = examples
        .iter()
        .filter(|(_, e)| e.is_none())
        .map(|(p, _)| PathBuf::from(p))
        .collect();
    let mut oks: Vec<PathBuf> = std::fs::read_dir(fixtures)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ok_"))
        })
        .collect();
    oks.sort();
    files.extend(oks);
    files
        .into_iter()
        .map(|f| {
            let (_, _, out) = export_file(&f);
            let text = out
                .unwrap_or_else(|_| panic!("{} compiles", f.display()))
                .text;
            (f.to_string_lossy().into_owned(), text)
        })
        .collect()
}
