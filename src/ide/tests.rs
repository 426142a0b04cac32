//! Editor services on small texts; `$0` marks the cursor.

use super::{Analysis, Symbol};
use crate::check::NoLoader;

fn analyse(text: &str) -> (Analysis, usize) {
    let offset = text.find("$0").expect("a cursor");
    let text = text.replacen("$0", "", 1);
    (Analysis::new("/w/test.pipe", &text, &mut NoLoader), offset)
}

fn labels(text: &str) -> Vec<String> {
    let (a, offset) = analyse(text);
    a.completions(offset).into_iter().map(|c| c.label).collect()
}

const P: &str = "pipeline p {\n    stage build {\n        action a: sh { run = \"x\" }\n    }\n    stage deploy {\n        action b: sh { run = \"y\" }\n    }\n";

#[test]
fn transition_offers_stages_while_the_line_is_broken() {
    let text = format!("{P}    transition $0\n}}\n");
    assert_eq!(labels(&text), ["build", "deploy"]);
    let text = format!("{P}    transition build -> $0\n}}\n");
    assert_eq!(labels(&text), ["build", "deploy"]);
}

#[test]
fn the_index_records_stage_references() {
    let text = format!("{P}    transition bu$0ild -> deploy\n}}\n");
    let (a, offset) = analyse(&text);
    assert_eq!(
        a.index().at(offset).map(|o| o.symbol.clone()),
        Some(Symbol::Stage("build".into()))
    );
}

struct OneFile(&'static str);

impl crate::check::Loader for OneFile {
    fn read(&mut self, _: &str) -> Result<String, String> {
        Ok(self.0.to_string())
    }
}

#[test]
fn problems_of_an_imported_file_are_told_at_its_import() {
    let main = "import \"./lib.pipe\" as lib\npipeline p {\n    stage s {\n        action a: lib.hello {}\n    }\n}\n";
    let a = Analysis::new(
        "/w/main.pipe",
        main,
        &mut OneFile("template hello(): sh { run = 5 }\n"),
    );
    let problems = a.import_problems();
    assert_eq!(problems.len(), 1, "{:?}", a.diagnostics());
    assert_eq!(problems[0].0.start as usize, main.find('"').expect("quote"));
    assert_eq!(problems[0].1, 1);
    assert_eq!(problems[0].2.code.as_str(), "E0301");
}
