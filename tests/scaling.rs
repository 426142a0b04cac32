//! Checking time grows linearly with the number of diagnostics: thousands of errors on one
//! long line are checked and rendered in every format, and published by the language server,
//! well within a bound that the quadratic versions (a "did you mean" over every name per
//! error, a column counted from the line start per report, a line index per related label)
//! missed by minutes in a debug build. `cargo bench --bench check` prints the scaling itself.

use std::time::{Duration, Instant};

use pipec::diagnostics::{Code, render};

use crate::lsp_client::{Client, uri_of};

/// One line holding `n` actions, each with an unknown `after` (E0201, "did you mean" over
/// all `n` names) and an export listed twice (E0202 with a label); a `timeout` each (the
/// checker counts the errors around it).
fn one_line(n: usize) -> String {
    let actions: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "action a{i}: sh {{ after = [zz] exports = [x, x] run = \"true\" timeout = 5m }}"
            )
        })
        .collect();
    format!("pipeline p {{ stage s {{ {} }} }}\n", actions.join(" "))
}

/// Generous for a debug build on a busy machine: the linear version takes a few seconds.
const BOUND: Duration = Duration::from_secs(60);

#[test]
fn thousands_of_diagnostics_are_checked_and_rendered_in_linear_time() {
    let text = one_line(4000);
    let started = Instant::now();
    let (map, diags) = pipec::check_source("big.pipe", &text);
    let count = |code| diags.iter().filter(|d| d.code == code).count();
    assert_eq!((count(Code::E0201), count(Code::E0202)), (4000, 4000));
    let short: usize = diags.iter().map(|d| render::short(&map, d).len()).sum();
    let json = render::json_document(&map, 1, &diags);
    let sarif = render::sarif(&map, &diags);
    let options = render::HumanOptions {
        color: false,
        width: 80,
    };
    let human: usize = diags
        .iter()
        .map(|d| render::human(&map, d, options).len())
        .sum();
    assert!(short > 0 && human > 0 && !json.is_empty() && !sarif.is_empty());
    let last = diags.last().expect("diagnostics");
    assert!(
        render::short(&map, last).starts_with("big.pipe:1:"),
        "one line: {}",
        render::short(&map, last)
    );
    let took = started.elapsed();
    assert!(took < BOUND, "checking and rendering took {took:?}");
}

#[test]
fn the_language_server_publishes_thousands_of_diagnostics_in_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.pipe");
    let text = one_line(2000);
    std::fs::write(&file, &text).expect("write");
    let mut c = Client::start(&dir.path().join("cache"));
    // `open` waits at most 20 s for the diagnostics.
    let diags = c.open(&uri_of(&file), &text);
    assert_eq!(diags.len(), 4000);
    let related = diags
        .iter()
        .filter(|d| {
            d["relatedInformation"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        })
        .count();
    assert_eq!(
        related, 2000,
        "each repeated export points at its first listing"
    );
    c.shutdown();
}
