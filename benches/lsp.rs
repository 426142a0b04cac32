//! Latency of `pipec lsp` diagnostics after an edit (issue: editor experience).
//!
//! Run: `cargo bench --bench lsp`. It starts the release `pipec lsp`, opens a generated
//! 2,000-line pipeline (200 stages, an import of `std/rust`, exports, artifacts and
//! conditions), then sends 60 incremental edits that alternately break a stage reference
//! (E0201) and fix it, and measures the time from writing each `didChange` to reading the
//! `publishDiagnostics` that answers it. Goal: median and p95 under 50 ms.
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // Reason: a bench prints and runs processes.
#![allow(clippy::cast_precision_loss)] // Reason: report arithmetic on small numbers.

#[path = "../tests/lsp_client.rs"]
mod lsp_client;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::json;

use lsp_client::{Client, offset_pos, uri_of};

/// About 10 lines per stage.
fn generate(stages: usize) -> String {
    let mut s =
        String::from("import \"std/rust\"\n\npipeline big {\n    param env: string = \"prod\"\n\n");
    for k in 0..stages {
        let _ = writeln!(s, "    stage s{k} {{");
        if k > 0 {
            let prev = k - 1;
            let _ = writeln!(
                s,
                "        entry {{ require s{prev}.test.v != \"none\" else fail }}"
            );
        }
        let _ = writeln!(s, "        action build: rust.build {{");
        let _ = writeln!(s, "            profile = \"release\"");
        let _ = writeln!(s, "            output = bin{k} from \"target/release/app\"");
        let _ = writeln!(s, "        }}");
        let _ = writeln!(s, "        action test: sh {{");
        let _ = writeln!(s, "            after = [build]  input = bin{k}");
        let exports = if k + 1 < stages {
            "  exports = [v]"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "            run = \"echo v=${{params.env}} >> $PIPEC_OUTPUT\"{exports}"
        );
        let _ = writeln!(s, "        }}");
        let _ = writeln!(s, "    }}");
    }
    let _ = writeln!(s, "    transition s0 -> s1\n}}");
    s
}

fn main() {
    let text = generate(200);
    let lines = text.lines().count();
    let dir = std::env::temp_dir().join(format!("pipec-bench-lsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("big.pipe");
    std::fs::write(&file, &text).expect("write");
    let uri = uri_of(&file);
    let mut client = Client::start(&dir.join("cache"));
    let started = Instant::now();
    let diags = client.open(&uri, &text);
    let open = started.elapsed();
    assert!(
        diags.is_empty(),
        "the generated file checks clean: {diags:?}"
    );

    // `s0 -> s1` ⇄ `s0 -> sX1`: an unknown stage, then fixed again.
    let at = text.find("transition s0 -> s1").expect("transition") + "transition s0 -> ".len();
    let mut times = Vec::new();
    for i in 0..60 {
        let (range, new) = if i % 2 == 0 {
            (
                json!({"start": offset_pos(&text, at), "end": offset_pos(&text, at)}),
                "X",
            )
        } else {
            let end = json!({"line": offset_pos(&text, at)["line"], "character": offset_pos(&text, at)["character"].as_u64().expect("col") + 1});
            (json!({"start": offset_pos(&text, at), "end": end}), "")
        };
        let sent = Instant::now();
        client.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": i + 2},
                   "contentChanges": [{"range": range, "text": new}]}),
        );
        let diags = client.diagnostics(&uri);
        times.push(sent.elapsed());
        assert_eq!(diags.len(), usize::from(i % 2 == 0), "edit {i}: {diags:?}");
    }
    client.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = times[times.len() / 2];
    let p95 = times[times.len() * 95 / 100];
    let max = times[times.len() - 1];
    println!(
        "pipec lsp, {lines}-line file: open {:.1} ms; after an edit: median {:.1} ms, p95 {:.1} ms, max {:.1} ms (goal < 50 ms) {}",
        ms(open),
        ms(median),
        ms(p95),
        ms(max),
        if p95 < Duration::from_millis(50) {
            "ok"
        } else {
            "MISSED"
        }
    );
}
