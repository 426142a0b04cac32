//! `pipec lsp` spoken to like an editor (see `lsp_client.rs`): open, change, diagnostics,
//! hover, definition, references, completion, rename, quick fixes, outline, shutdown.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::lsp_client::{Client, offset_pos, pos, uri_of};

fn at(uri: &str, text: &str, needle: &str, delta: usize) -> Value {
    json!({"textDocument": {"uri": uri}, "position": pos(text, needle, delta)})
}

const PIPE: &str = r#"import "std/rust"

pipeline web {
    /// Where to deploy.
    param env: string = "staging"
    secret token = env("TOKEN")

    stage build {
        action compile: rust.build {
            profile = "release"
            output = bin from "target/release/web"
        }
        action package: sh {
            after = [compile]
            input = bin
            run = "echo version=1 >> $PIPEC_OUTPUT"
            exports = [version]
        }
    }

    stage deploy {
        entry { require params.env == "prod" else skip }
        action ship: sh {
            inputs = [bin]
            env = { TOKEN = secrets.token }
            run = "deploy ${params.env} ${build.package.version}"
        }
    }

    transition build -> deploy
}
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    cache: PathBuf,
    uri: String,
}

/// The fixture and a server started for it.
fn started() -> (Fixture, Client) {
    let f = fixture();
    let c = Client::start(&f.cache);
    (f, c)
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let file = dir.path().join("web.pipe");
    std::fs::write(&file, PIPE).expect("write");
    Fixture {
        uri: uri_of(&file),
        cache,
        _dir: dir,
    }
}

#[test]
fn diagnostics_appear_and_clear_with_incremental_changes() {
    let (f, mut c) = started();
    let broken = PIPE.replace("transition build -> deploy", "transition biuld -> deploy");
    let diags = c.open(&f.uri, &broken);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(d["code"], "E0201");
    assert_eq!(d["severity"], 1);
    assert_eq!(d["source"], "pipec");
    assert_eq!(d["range"]["start"], pos(&broken, "biuld", 0));
    assert_eq!(d["range"]["end"], pos(&broken, "biuld", 5));
    assert!(
        d["message"]
            .as_str()
            .expect("message")
            .contains("did you mean `build`?")
    );
    // The code links to its explanation, a file the server wrote.
    let href = d["codeDescription"]["href"].as_str().expect("href");
    let page = href.strip_prefix("file://").expect("a file URI");
    assert!(page.ends_with("explain/E0201.md"), "{href}");
    let text = std::fs::read_to_string(page).expect("explanation written");
    assert!(text.contains("E0201"));

    // Fix it with an incremental edit: replace `biuld` by `build`.
    let start = pos(&broken, "biuld", 0);
    let end = pos(&broken, "biuld", 5);
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": f.uri, "version": 2},
               "contentChanges": [{"range": {"start": start, "end": end}, "text": "build"}]}),
    );
    assert_eq!(c.diagnostics(&f.uri), Vec::<Value>::new());

    // Break it again with a full-text change: secondary labels become related information.
    let dup = PIPE.replace("stage deploy {", "stage build {");
    c.replace(&f.uri, 3, &dup);
    let diags = c.diagnostics(&f.uri);
    let e0202 = diags
        .iter()
        .find(|d| d["code"] == "E0202")
        .expect("a duplicate stage");
    let related = &e0202["relatedInformation"][0];
    assert_eq!(related["location"]["uri"], f.uri.as_str());
    assert_eq!(
        related["location"]["range"]["start"],
        pos(&dup, "build {", 0)
    );
    c.shutdown();
}

#[test]
fn the_stdio_flag_some_clients_pass_is_accepted() {
    let f = fixture();
    let mut c = Client::start_with(&f.cache, &["--stdio"]);
    assert!(c.open(&f.uri, PIPE).is_empty());
    c.shutdown();
}

#[test]
fn hover_definition_and_references() {
    let (f, mut c) = started();
    assert!(c.open(&f.uri, PIPE).is_empty());

    let hover = c.request("textDocument/hover", at(&f.uri, PIPE, "params.env ==", 7));
    let text = hover["contents"]["value"].as_str().expect("markdown");
    assert!(text.contains("param env: string = \"staging\""), "{text}");
    assert!(text.contains("Where to deploy."), "{text}");

    let hover = c.request("textDocument/hover", at(&f.uri, PIPE, "rust.build", 6));
    let text = hover["contents"]["value"].as_str().expect("markdown");
    assert!(text.contains("template build("), "{text}");

    let hover = c.request(
        "textDocument/hover",
        at(&f.uri, PIPE, "action package: sh", 17),
    );
    let text = hover["contents"]["value"].as_str().expect("markdown");
    assert!(
        text.contains("run: script") && text.contains("(required)"),
        "{text}"
    );

    let hover = c.request("textDocument/hover", at(&f.uri, PIPE, "input = bin", 8));
    let text = hover["contents"]["value"].as_str().expect("markdown");
    assert!(text.contains("output of `build.compile`"), "{text}");

    // A stage in a transition → its declaration.
    let def = c.request("textDocument/definition", at(&f.uri, PIPE, "-> deploy", 4));
    assert_eq!(def["uri"], f.uri.as_str());
    assert_eq!(def["range"]["start"], pos(PIPE, "deploy {", 0));
    // An export in an interpolation → where it is declared.
    let def = c.request(
        "textDocument/definition",
        at(&f.uri, PIPE, "package.version}", 9),
    );
    assert_eq!(def["range"]["start"], pos(PIPE, "version]", 0));
    // A stdlib template → a read-only copy of the stdlib file.
    let def = c.request("textDocument/definition", at(&f.uri, PIPE, "rust.build", 6));
    let uri = def["uri"].as_str().expect("uri");
    assert!(uri.ends_with("stdlib/rust.pipe"), "{uri}");
    let path = uri.strip_prefix("file://").expect("file uri");
    let stdlib = std::fs::read_to_string(path).expect("stdlib copy");
    assert_eq!(stdlib, pipec::stdlib::source("rust").expect("std/rust"));
    assert!(
        std::fs::metadata(path)
            .expect("meta")
            .permissions()
            .readonly()
    );
    let line = def["range"]["start"]["line"].as_u64().expect("line") as usize;
    assert!(
        stdlib
            .lines()
            .nth(line)
            .expect("line")
            .contains("template build")
    );

    let refs = c.request(
        "textDocument/references",
        json!({"textDocument": {"uri": f.uri}, "position": pos(PIPE, "param env", 6),
               "context": {"includeDeclaration": true}}),
    );
    let refs = refs.as_array().expect("locations");
    assert_eq!(refs.len(), 3, "declaration and two uses: {refs:?}");
    let refs = c.request(
        "textDocument/references",
        json!({"textDocument": {"uri": f.uri}, "position": pos(PIPE, "bin from", 0),
               "context": {"includeDeclaration": false}}),
    );
    assert_eq!(
        refs.as_array().expect("locations").len(),
        2,
        "`input` and `inputs`"
    );
    c.shutdown();
}

fn labels(result: &Value) -> Vec<String> {
    result
        .as_array()
        .expect("a completion list")
        .iter()
        .map(|i| i["label"].as_str().expect("label").to_string())
        .collect()
}

/// Completion at the end of `typed`, inserted at `needle` (a fresh document each time).
fn complete(c: &mut Client, uri: &str, needle: &str, typed: &str) -> Vec<String> {
    let text = PIPE.replacen(needle, &format!("{typed}{needle}"), 1);
    c.replace(uri, 9, &text);
    let _ = c.diagnostics(uri);
    let at = PIPE.find(needle).expect("needle") + typed.len();
    let position = offset_pos(&text, at);
    labels(&c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": position}),
    ))
}

#[test]
fn completion_in_context() {
    let (f, mut c) = started();
    c.open(&f.uri, PIPE);
    let ship = "        action ship";
    let l = complete(&mut c, &f.uri, ship, "        action x: ");
    for k in ["sh", "dir", "git", "approval", "rust.build"] {
        assert!(l.contains(&k.to_string()), "{k} in {l:?}");
    }
    let l = complete(&mut c, &f.uri, ship, "        action x: rust.");
    assert!(l.contains(&"build".to_string()), "{l:?}");
    let l = complete(&mut c, &f.uri, "            inputs = [bin]", "            ");
    for a in ["run", "shell", "workdir", "after", "inputs", "env", "retry"] {
        assert!(l.contains(&a.to_string()), "{a} in {l:?}");
    }
    let l = complete(&mut c, &f.uri, "            profile", "            ");
    assert!(
        l.contains(&"profile".to_string()) && l.contains(&"package".to_string()),
        "{l:?}"
    );
    assert!(
        !l.contains(&"run".to_string()),
        "a template call sets no kind parameter: {l:?}"
    );
    let l = complete(&mut c, &f.uri, "\n    transition", "\n    x = params.");
    assert_eq!(l, ["env"]);
    let l = complete(&mut c, &f.uri, "\n    transition", "\n    x = secrets.");
    assert_eq!(l, ["token"]);
    let l = complete(
        &mut c,
        &f.uri,
        "\n    transition",
        "\n    x = build.package.",
    );
    assert_eq!(l, ["version"]);
    let l = complete(&mut c, &f.uri, "\n    transition", "\n    x = build.");
    assert_eq!(l, ["compile", "package", "status"]);
    let l = complete(
        &mut c,
        &f.uri,
        "            env = {",
        "            inputs = [",
    );
    assert_eq!(l, ["bin"]);
    let l = complete(
        &mut c,
        &f.uri,
        "            input = bin",
        "            after = [",
    );
    assert!(l.contains(&"compile".to_string()), "{l:?}");
    let l = complete(&mut c, &f.uri, "\n    transition", "\n    transition ");
    assert_eq!(l, ["build", "deploy"]);
    let l = complete(&mut c, &f.uri, "        action compile", "        ");
    for k in [
        "action",
        "entry",
        "on success",
        "on failure",
        "timeout",
        "after",
    ] {
        assert!(l.contains(&k.to_string()), "{k} in {l:?}");
    }
    let l = complete(&mut c, &f.uri, "    stage build", "    ");
    for k in ["stage", "param", "secret", "trigger", "transition", "mode"] {
        assert!(l.contains(&k.to_string()), "{k} in {l:?}");
    }
    // Nothing inside a string or a comment.
    let l = complete(&mut c, &f.uri, "    stage build", "    // a stage ");
    assert!(l.is_empty(), "{l:?}");
    c.shutdown();
}

#[test]
fn rename_symbols_and_quick_fixes() {
    let (f, mut c) = started();
    c.open(&f.uri, PIPE);
    let prepared = c.request(
        "textDocument/prepareRename",
        at(&f.uri, PIPE, "stage build", 6),
    );
    assert_eq!(prepared["placeholder"], "build");
    let edit = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": f.uri}, "position": pos(PIPE, "stage build", 6),
               "newName": "compile_all"}),
    );
    let edits = edit["changes"][f.uri.as_str()].as_array().expect("edits");
    // The declaration, `build.package.version`, and the transition.
    assert_eq!(edits.len(), 3, "{edits:?}");
    assert!(edits.iter().all(|e| e["newText"] == "compile_all"));
    // An export: its declaration and its use in an interpolation.
    let edit = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": f.uri}, "position": pos(PIPE, "version]", 0),
               "newName": "tag"}),
    );
    assert_eq!(
        edit["changes"][f.uri.as_str()]
            .as_array()
            .expect("edits")
            .len(),
        2
    );
    // Refused: not a name, and a name taken.
    let bad = c.request_raw(
        "textDocument/rename",
        json!({"textDocument": {"uri": f.uri}, "position": pos(PIPE, "stage build", 6),
               "newName": "no good"}),
    );
    assert!(
        bad["error"]["message"]
            .as_str()
            .expect("error")
            .contains("is not a name")
    );
    let taken = c.request_raw(
        "textDocument/rename",
        json!({"textDocument": {"uri": f.uri}, "position": pos(PIPE, "stage build", 6),
               "newName": "deploy"}),
    );
    assert!(
        taken["error"]["message"]
            .as_str()
            .expect("error")
            .contains("already declared")
    );

    // A misspelled action in `after`: the quick fix replaces it.
    let typo = PIPE.replace("after = [compile]", "after = [compil]");
    c.replace(&f.uri, 2, &typo);
    let diags = c.diagnostics(&f.uri);
    let unknown = diags.iter().find(|d| d["code"] == "E0201").expect("E0201");
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": f.uri}, "range": unknown["range"],
               "context": {"diagnostics": [unknown]}}),
    );
    assert_eq!(actions.as_array().expect("actions").len(), 1, "{actions}");
    let fix = &actions[0];
    assert_eq!(fix["kind"], "quickfix");
    assert_eq!(fix["title"], "replace `compil` with `compile`");
    let edit = &fix["edit"]["changes"][f.uri.as_str()][0];
    assert_eq!(edit["newText"], "compile");
    // Only quick fixes are offered: a request for other kinds gets none.
    let other = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": f.uri}, "range": unknown["range"],
               "context": {"diagnostics": [unknown], "only": ["source.organizeImports"]}}),
    );
    assert_eq!(other, json!([]));
    assert_eq!(edit["range"], unknown["range"]);
    c.shutdown();
}

#[test]
fn formatting_gives_the_text_pipec_fmt_writes() {
    let (f, mut c) = started();
    let messy = PIPE.replace(
        "    param env: string = \"staging\"",
        "  param   env :string=\"staging\" ;",
    );
    c.open(&f.uri, &messy);
    let edits = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": f.uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let edits = edits.as_array().expect("edits");
    assert_eq!(edits.len(), 1, "{edits:?}");
    let formatted = edits[0]["newText"].as_str().expect("text");
    assert_eq!(formatted, pipec::format_source(&messy).expect("formats"));
    assert!(
        formatted.contains("\n  param env: string = \"staging\"\n"),
        "{formatted}"
    );
    assert_eq!(
        edits[0]["range"]["start"],
        json!({"line": 0, "character": 0})
    );
    assert_eq!(edits[0]["range"]["end"], offset_pos(&messy, messy.len()));
    // Formatted already: no edit. Broken: an error, and the text is left alone.
    c.replace(&f.uri, 2, formatted);
    let _ = c.diagnostics(&f.uri);
    let none = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": f.uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(none, json!([]));
    c.replace(&f.uri, 3, "pipeline p {");
    let _ = c.diagnostics(&f.uri);
    let refused = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": f.uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(refused, Value::Null);
    let said = c.notification("window/showMessage");
    let message = said["params"]["message"].as_str().expect("a message");
    assert!(message.contains("syntax errors"), "{message}");
    c.shutdown();
}

#[test]
fn document_symbols_outline_stages_and_actions() {
    let (f, mut c) = started();
    c.open(&f.uri, PIPE);
    let symbols = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": f.uri}}),
    );
    let top: Vec<&str> = symbols
        .as_array()
        .expect("symbols")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(top, ["\"std/rust\"", "web"]);
    let pipeline = &symbols[1]["children"];
    let names: Vec<&str> = pipeline
        .as_array()
        .expect("children")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["env", "token", "build", "deploy", "build -> deploy"]
    );
    let actions: Vec<&str> = pipeline[2]["children"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(actions, ["compile", "package"]);
    assert_eq!(pipeline[2]["children"][0]["detail"], "rust.build");

    // Folding: the pipeline, its stages and its multi-line actions.
    let folds = c.request(
        "textDocument/foldingRange",
        json!({"textDocument": {"uri": f.uri}}),
    );
    let folds: Vec<(u64, u64)> = folds
        .as_array()
        .expect("ranges")
        .iter()
        .map(|r| {
            (
                r["startLine"].as_u64().expect("start"),
                r["endLine"].as_u64().expect("end"),
            )
        })
        .collect();
    let line = |needle: &str| pos(PIPE, needle, 0)["line"].as_u64().expect("line");
    assert!(
        folds.contains(&(line("pipeline web"), line("transition build") + 1)),
        "{folds:?}"
    );
    assert!(
        folds.contains(&(line("stage build"), line("stage deploy") - 2)),
        "{folds:?}"
    );
    assert!(
        folds.contains(&(line("action compile"), line("action package") - 1)),
        "{folds:?}"
    );
    c.shutdown();
}

const MAIN: &str = "import \"./lib.pipe\" as lib\npipeline p {\n    stage s {\n        action a: lib.hello {}\n    }\n}\n";

#[test]
fn references_of_an_imported_template_reach_every_open_importer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lib = dir.path().join("lib.pipe");
    std::fs::write(&lib, "template hello(): sh { run = \"echo hi\" }\n").expect("write");
    let main = dir.path().join("main.pipe");
    let text = MAIN;
    std::fs::write(&main, text).expect("write");
    let mut c = Client::start(&dir.path().join("cache"));
    assert!(c.open(&uri_of(&main), text).is_empty());
    // From an importer: the declaration, this file's use, and the other open importer's.
    let other = dir.path().join("other.pipe");
    let other_text = text.replace("pipeline p", "pipeline q");
    std::fs::write(&other, &other_text).expect("write");
    assert!(c.open(&uri_of(&other), &other_text).is_empty());
    let refs = c.request(
        "textDocument/references",
        json!({"textDocument": {"uri": uri_of(&main)}, "position": pos(text, "hello", 0),
               "context": {"includeDeclaration": true}}),
    );
    let mut uris: Vec<&str> = refs
        .as_array()
        .expect("refs")
        .iter()
        .map(|r| r["uri"].as_str().expect("uri"))
        .collect();
    uris.sort_unstable();
    let mut expected = [uri_of(&lib), uri_of(&main), uri_of(&other)];
    expected.sort();
    assert_eq!(
        uris,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri_of(&other)}}),
    );
    assert!(c.diagnostics(&uri_of(&other)).is_empty());

    c.shutdown();
}

#[test]
fn imports_are_read_from_open_documents_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lib = dir.path().join("lib.pipe");
    std::fs::write(&lib, "template hello(): sh { run = \"echo hi\" }\n").expect("write");
    let main = dir.path().join("main.pipe");
    let text = MAIN;
    std::fs::write(&main, text).expect("write");
    let mut c = Client::start(&dir.path().join("cache"));
    assert!(c.open(&uri_of(&main), text).is_empty());
    // The definition of `lib.hello` is in lib.pipe.
    let def = c.request(
        "textDocument/definition",
        at(&uri_of(&main), text, "lib.hello", 4),
    );
    assert_eq!(def["uri"], uri_of(&lib).as_str());
    // From lib.pipe, open too: references and rename reach the open file that imports it.
    // (Opening it analyses main.pipe again, with lib.pipe's text from the editor.)
    let lib_text = "template hello(): sh { run = \"echo hi\" }\n";
    c.open(&uri_of(&lib), lib_text);
    assert!(c.diagnostics(&uri_of(&main)).is_empty());
    let refs = c.request(
        "textDocument/references",
        json!({"textDocument": {"uri": uri_of(&lib)}, "position": pos(lib_text, "hello", 0),
               "context": {"includeDeclaration": true}}),
    );
    let uris: Vec<&str> = refs
        .as_array()
        .expect("refs")
        .iter()
        .map(|r| r["uri"].as_str().expect("uri"))
        .collect();
    assert_eq!(uris, [uri_of(&lib).as_str(), uri_of(&main).as_str()]);
    let edit = c.request(
        "textDocument/rename",
        json!({"textDocument": {"uri": uri_of(&lib)}, "position": pos(lib_text, "hello", 0), "newName": "greet"}),
    );
    let in_main = &edit["changes"][uri_of(&main).as_str()];
    assert_eq!(in_main[0]["range"]["start"], pos(text, "hello", 0));
    assert_eq!(in_main[0]["newText"], "greet");
    assert_eq!(
        edit["changes"][uri_of(&lib).as_str()]
            .as_array()
            .expect("edits")
            .len(),
        1
    );

    // Change lib.pipe with the template renamed (unsaved): main.pipe is checked again at
    // once, without a change of its own, and sees it.
    c.replace(
        &uri_of(&lib),
        2,
        "template bye(): sh { run = \"echo bye\" }\n",
    );
    assert!(c.diagnostics(&uri_of(&lib)).is_empty());
    let diags = c.diagnostics(&uri_of(&main));
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0201");

    // An error inside the imported file is shown at the import, pointing into the file.
    c.replace(&uri_of(&lib), 3, "template hello(): sh { run = 5 }\n");
    let lib_diags = c.diagnostics(&uri_of(&lib));
    assert_eq!(lib_diags.len(), 1, "{lib_diags:?}");
    let diags = c.diagnostics(&uri_of(&main));
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0301");
    assert_eq!(diags[0]["range"]["start"], pos(text, "\"./lib.pipe\"", 0));
    let message = diags[0]["message"].as_str().expect("message");
    assert!(
        message.starts_with("the imported file has 1 error; the first: "),
        "{message}"
    );
    assert_eq!(
        diags[0]["relatedInformation"][0]["location"]["uri"],
        uri_of(&lib).as_str()
    );

    // Closing lib.pipe (unsaved): main.pipe reads it from disk again, where it is fine.
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri_of(&lib)}}),
    );
    assert!(c.diagnostics(&uri_of(&lib)).is_empty());
    assert!(c.diagnostics(&uri_of(&main)).is_empty());
    c.shutdown();
}

#[test]
fn an_import_of_a_fifo_is_e0205_and_does_not_hang_the_server() {
    let (f, mut c) = started();
    let dir = f.cache.parent().expect("the fixture's folder");
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("fifo.pipe"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let text = format!("import \"./fifo.pipe\" as fifo\n{PIPE}");
    let diags = c.open(&f.uri, &text);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0205");
    let message = diags[0]["message"].as_str().expect("message");
    assert!(message.contains("not a regular file (a FIFO)"), "{message}");
    c.shutdown();
}

/// A pipeline of `stages` stages, each reading the previous one's export (about 8 lines a
/// stage), whose analysis takes long enough to outlast a burst of edits.
fn chain(stages: usize) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("pipeline big {\n");
    for k in 0..stages {
        let _ = writeln!(s, "    stage s{k} {{");
        if k > 0 {
            let prev = k - 1;
            let _ = writeln!(
                s,
                "        entry {{ require s{prev}.a.v != \"none\" else fail }}"
            );
        }
        s.push_str("        action a: sh {\n");
        s.push_str("            run = \"echo v=1 >> $PIPEC_OUTPUT\"  exports = [v]\n");
        s.push_str("        }\n    }\n");
    }
    s.push_str("}\n");
    s
}

#[test]
fn a_burst_of_changes_is_analysed_once_and_only_its_last_version_is_published() {
    let (f, mut c) = started();
    let clean = chain(300);
    // The same length, with an unknown stage in the last stage's entry.
    let broken = clean.replacen("require s298.a.v", "require s29x.a.v", 1);
    assert!(c.open(&f.uri, &clean).is_empty());
    for version in 2..=21 {
        let text = if version % 2 == 0 { &clean } else { &broken };
        c.replace(&f.uri, version, text);
    }
    // Diagnostics arrive for some versions, in order, ending with the last one's.
    let mut published = Vec::new();
    loop {
        let msg = c.notification("textDocument/publishDiagnostics");
        let version = msg["params"]["version"].as_i64().expect("a version");
        published.push(version);
        if version == 21 {
            let diagnostics = msg["params"]["diagnostics"].as_array().expect("a list");
            assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
            assert_eq!(diagnostics[0]["code"], "E0201");
            break;
        }
    }
    assert!(
        published.windows(2).all(|w| w[0] < w[1]),
        "published out of order: {published:?}"
    );
    assert!(
        published.len() < 20,
        "20 changes in a burst were each analysed and published: {published:?}"
    );
    // Nothing older comes after: a request answered later finds no other diagnostics.
    let _ = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": f.uri}}),
    );
    let late = c.take_received("textDocument/publishDiagnostics");
    assert!(
        late.is_empty(),
        "published after the last version: {late:?}"
    );
    c.shutdown();
}
